//! `attache.v1.ModelAdmin`: hot reload, behind a bearer token.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use super::error::ServerError;
use super::handle::ModelHandle;
use crate::proto::model_admin_server::ModelAdmin;
use crate::proto::{ModelInfo, ReloadModelRequest};

/// The admin bearer token. Only its SHA-256 is kept, and tokens are compared digest to
/// digest in constant time, so neither the content nor the length of the secret leaks
/// through timing. It never appears in `Debug` output or logs.
#[derive(Clone)]
pub struct AdminToken {
    digest: [u8; 32],
}

impl AdminToken {
    /// The token; `None` when it is empty or only whitespace (administration stays disabled
    /// rather than accepting an empty secret).
    pub fn new(token: &str) -> Option<AdminToken> {
        if token.trim().is_empty() {
            return None;
        }
        Some(AdminToken {
            digest: Sha256::digest(token.as_bytes()).into(),
        })
    }

    /// True when `presented` is the token.
    pub fn verify(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        digest.ct_eq(&self.digest).into()
    }

    /// Checks the `authorization: Bearer <token>` metadata of a call.
    pub fn authorize(&self, metadata: &MetadataMap) -> Result<(), ServerError> {
        let presented = metadata
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or(ServerError::MissingToken)?;
        if self.verify(presented) {
            Ok(())
        } else {
            Err(ServerError::InvalidToken)
        }
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// The `ModelAdmin` service: disabled (UNIMPLEMENTED) without a token.
#[derive(Debug)]
pub struct AdminService {
    models: Arc<ModelHandle>,
    token: Option<AdminToken>,
}

impl AdminService {
    /// Administers `models`, guarded by `token`.
    pub fn new(models: Arc<ModelHandle>, token: Option<AdminToken>) -> Self {
        AdminService { models, token }
    }
}

#[tonic::async_trait]
impl ModelAdmin for AdminService {
    async fn reload_model(
        &self,
        request: Request<ReloadModelRequest>,
    ) -> Result<Response<ModelInfo>, Status> {
        let token = self.token.as_ref().ok_or(ServerError::AdminDisabled)?;
        token.authorize(request.metadata())?;
        let served = self
            .models
            .reload(&request.get_ref().path, "ReloadModel")
            .await?;
        Ok(Response::new(served.info.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(value: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", value.parse().unwrap());
        m
    }

    #[test]
    fn only_the_right_bearer_token_is_accepted() {
        let token = AdminToken::new("s3cret").unwrap();
        assert!(token.authorize(&metadata("Bearer s3cret")).is_ok());
        assert!(token.authorize(&metadata("bearer s3cret")).is_ok());
        assert!(matches!(
            token.authorize(&metadata("Bearer s3cret2")),
            Err(ServerError::InvalidToken)
        ));
        assert!(matches!(
            token.authorize(&metadata("Basic s3cret")),
            Err(ServerError::MissingToken)
        ));
        assert!(matches!(
            token.authorize(&MetadataMap::new()),
            Err(ServerError::MissingToken)
        ));
    }

    #[test]
    fn an_empty_token_disables_administration_and_debug_hides_the_token() {
        assert!(AdminToken::new("  ").is_none());
        let token = AdminToken::new("s3cret").unwrap();
        assert!(!format!("{token:?}").contains("s3cret"));
    }
}
