//! Which files a reload may load, and the checks a model passes before it serves.
//!
//! Paths are confined to the model directory: a relative path is taken inside it, an
//! absolute one must be spelled inside its canonical form, `..` components are refused
//! outright (before the file system is consulted, so probing for files elsewhere learns
//! nothing), and the canonical path (symbolic links resolved) must still lie inside. Leaving
//! the directory is PERMISSION_DENIED; a missing file NOT_FOUND; a directory or other
//! non-file INVALID_ARGUMENT; a file that is not a valid model FAILED_PRECONDITION.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Component, Path, PathBuf};

use super::error::ServerError;
use super::work::panic_message;
use crate::model::{ArtifactError, ClassifyOptions, Model};

/// The canonical path of `requested` inside the canonical directory `dir`.
pub fn resolve(dir: &Path, requested: &str) -> Result<PathBuf, ServerError> {
    let outside = || ServerError::OutsideModelDir {
        path: requested.to_owned(),
        dir: dir.to_owned(),
    };
    let p = Path::new(requested);
    if p.components().any(|c| c == Component::ParentDir) || requested.contains('\0') {
        return Err(outside());
    }
    let joined = if p.is_absolute() {
        if !p.starts_with(dir) {
            return Err(outside());
        }
        p.to_owned()
    } else {
        dir.join(p)
    };
    let canonical = match std::fs::canonicalize(&joined) {
        Ok(c) => c,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Err(ServerError::ModelNotFound(joined));
        }
        Err(source) => {
            return Err(ServerError::BadModel {
                path: joined.clone(),
                source: ArtifactError::Io {
                    path: joined,
                    source,
                },
            })
        }
    };
    if !canonical.starts_with(dir) {
        return Err(outside());
    }
    if !canonical.is_file() {
        return Err(ServerError::NotAFile(canonical));
    }
    Ok(canonical)
}

/// Reads, decodes and validates the model file `path`, then smoke-tests it.
pub fn load(path: &Path) -> Result<Model, ServerError> {
    let model = Model::load(path).map_err(|source| match &source {
        ArtifactError::Io { source: io, .. } if io.kind() == std::io::ErrorKind::NotFound => {
            ServerError::ModelNotFound(path.to_owned())
        }
        _ => ServerError::BadModel {
            path: path.to_owned(),
            source,
        },
    })?;
    smoke_test(&model).map_err(|reason| ServerError::ModelFailedValidation {
        path: path.to_owned(),
        reason,
    })?;
    Ok(model)
}

/// Classifies a short text with every option on. Loading already validated the file's
/// structure; this proves the model can answer before any client depends on it.
pub fn smoke_test(model: &Model) -> Result<(), String> {
    let options = ClassifyOptions {
        top_k: 0,
        threshold: None,
        explain: 3,
        segments: true,
    };
    let text = "A smoke test before serving.\n\nA second paragraph, so segments run too.";
    let prediction =
        catch_unwind(AssertUnwindSafe(|| model.classify(text, &options))).map_err(|p| {
            format!(
                "classifying a test document panicked: {}",
                panic_message(&*p)
            )
        })?;
    let n = model.labels().len();
    if prediction.labels.len() != n {
        return Err(format!(
            "a test document got {} scores for {n} labels",
            prediction.labels.len()
        ));
    }
    if prediction
        .labels
        .iter()
        .any(|s| !s.score.is_finite() || !(0.0..=1.0).contains(&s.score))
    {
        return Err("a test document got a score that is not a probability".into());
    }
    if prediction.assigned.is_empty() {
        return Err("a test document was assigned no label".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_components_are_refused_before_touching_the_file_system() {
        let dir = Path::new("/nonexistent-model-dir");
        for p in [
            "../x.attache",
            "a/../../x",
            "/nonexistent-model-dir/../etc/passwd",
        ] {
            assert!(
                matches!(resolve(dir, p), Err(ServerError::OutsideModelDir { .. })),
                "{p}"
            );
        }
    }

    #[test]
    fn absolute_paths_elsewhere_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let canonical = std::fs::canonicalize(dir.path()).unwrap();
        assert!(matches!(
            resolve(&canonical, "/etc/hostname"),
            Err(ServerError::OutsideModelDir { .. })
        ));
    }

    #[test]
    fn missing_files_directories_and_symlinks_out_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let canonical = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(canonical.join("sub")).unwrap();
        std::fs::write(canonical.join("sub/m.attache"), b"x").unwrap();
        assert!(matches!(
            resolve(&canonical, "missing.attache"),
            Err(ServerError::ModelNotFound(_))
        ));
        assert!(matches!(
            resolve(&canonical, "sub"),
            Err(ServerError::NotAFile(_))
        ));
        assert_eq!(
            resolve(&canonical, "sub/m.attache").unwrap(),
            canonical.join("sub/m.attache")
        );
        let outside = tempfile::NamedTempFile::new().unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outside.path(), canonical.join("link.attache")).unwrap();
            assert!(matches!(
                resolve(&canonical, "link.attache"),
                Err(ServerError::OutsideModelDir { .. })
            ));
        }
    }

    #[test]
    fn a_file_that_is_not_a_model_is_refused_with_the_loader_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.attache");
        std::fs::write(&path, b"not a model at all, definitely not").unwrap();
        let err = load(&path).unwrap_err();
        assert!(matches!(err, ServerError::BadModel { .. }));
        assert!(err.to_string().contains("magic"), "{err}");
    }
}
