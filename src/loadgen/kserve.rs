//! The KServe V2 (Open Inference Protocol) side of the load generator: `ModelInfer` requests
//! as the MLServer peer's `load.py` sends them, so `attache bench --protocol kserve-v2`
//! drives that peer with the same Rust client, closed loop and documents as attache.
//!
//! A request carries one input tensor named `text`, datatype `BYTES`, shape `[B]`, holding
//! the B documents as UTF-8 in `contents.bytes_contents`, with the tensor parameter
//! `content_type` = `"str"` (without it MLServer decodes each document as an array of bytes
//! and fails). The first output tensor is read as the top label of each document.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};
use tonic::Request;

use self::proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use self::proto::model_infer_request::InferInputTensor;
use self::proto::{
    infer_parameter::ParameterChoice, InferParameter, InferTensorContents, ModelInferRequest,
    ModelInferResponse, ServerReadyRequest,
};
use super::docs::Documents;
use super::grpc::code_name;
use super::LoadError;

/// Generated types of the subset of the protocol in
/// `proto/third_party/kserve/v2/inference.proto` (package `inference`): a client for the
/// load generator and a server for test doubles.
pub mod proto {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("inference");
}

/// Why `stream` is refused with `--protocol kserve-v2`.
pub const NO_STREAM: &str = "kserve-v2 has no per-document stream to compare with \
    ClassifyStream: the protocol defines only unary ModelInfer, and MLServer's \
    ModelStreamInfer extension streams the outputs of one request (its scikit-learn \
    runtime answers the first message of a stream only); use unary or batch";

/// Where a KServe V2 run sends its requests, besides the address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KserveTarget {
    /// `model_name` of every request (the MLServer peer serves `sklearn-nb`).
    pub model: String,
    /// Before the run, wait up to this long for `ServerReady` to answer true (zero: do not
    /// ask).
    pub wait_ready: Duration,
}

/// The request for `texts`: one BYTES tensor `text` of shape `[number of texts]`.
pub fn infer_request<'a>(
    model: &str,
    texts: impl IntoIterator<Item = &'a str>,
) -> ModelInferRequest {
    let bytes_contents: Vec<Vec<u8>> = texts.into_iter().map(|t| t.as_bytes().to_vec()).collect();
    let shape = vec![bytes_contents.len() as i64];
    let content_type = InferParameter {
        parameter_choice: Some(ParameterChoice::StringParam("str".into())),
    };
    ModelInferRequest {
        model_name: model.to_owned(),
        inputs: vec![InferInputTensor {
            name: "text".into(),
            datatype: "BYTES".into(),
            shape,
            parameters: [("content_type".to_owned(), content_type)].into(),
            contents: Some(InferTensorContents {
                bytes_contents,
                ..Default::default()
            }),
        }],
        ..Default::default()
    }
}

/// The top label of each document from a response's first output: its BYTES elements, in
/// `contents` or length-prefixed in `raw_output_contents`. An output of another datatype
/// (numeric class ids) counts its documents by its first dimension, without labels to check.
/// `None` when the response has no usable output.
pub fn top_labels(response: ModelInferResponse) -> Option<Vec<Option<String>>> {
    let mut outputs = response.outputs.into_iter();
    let output = outputs.next()?;
    if output.datatype != "BYTES" {
        let n = usize::try_from(*output.shape.first()?).ok()?;
        return Some(vec![None; n]);
    }
    let elements = match output.contents {
        Some(c) if !c.bytes_contents.is_empty() => c.bytes_contents,
        _ => raw_bytes_elements(response.raw_output_contents.first()?)?,
    };
    Some(
        elements
            .into_iter()
            .map(|e| String::from_utf8(e).ok())
            .collect(),
    )
}

/// BYTES elements in the protocol's raw form: each a 4-byte little-endian length, then
/// that many bytes. `None` if the buffer ends inside an element.
fn raw_bytes_elements(mut raw: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    while !raw.is_empty() {
        let (len, rest) = raw.split_first_chunk::<4>()?;
        let len = u32::from_le_bytes(*len) as usize;
        let (element, rest) = rest.split_at_checked(len)?;
        out.push(element.to_vec());
        raw = rest;
    }
    Some(out)
}

/// One caller's `ModelInfer` client for the closed loop.
pub(crate) struct Caller {
    client: GrpcInferenceServiceClient<Channel>,
    model: Arc<str>,
}

impl Caller {
    /// A caller on `channel` inferring with `model`.
    pub(crate) fn new(channel: Channel, model: &str) -> Caller {
        Caller {
            client: client(channel),
            model: model.into(),
        }
    }
}

fn client(channel: Channel) -> GrpcInferenceServiceClient<Channel> {
    GrpcInferenceServiceClient::new(channel)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20)
}

impl super::grpc::Caller for Caller {
    type Message = ModelInferRequest;

    fn prepare(&self, docs: &Documents, first: u64, n: usize) -> ModelInferRequest {
        let texts = (first..first + n as u64).map(|p| docs.cycled(p).text.as_str());
        infer_request(&self.model, texts)
    }

    async fn send(
        &mut self,
        request: Request<ModelInferRequest>,
    ) -> Result<Vec<Option<String>>, &'static str> {
        match self.client.model_infer(request).await {
            Ok(r) => top_labels(r.into_inner()).ok_or("INVALID_RESPONSE"),
            Err(status) => Err(code_name(status.code())),
        }
    }
}

/// Asks `ServerReady` until it answers true, for up to `within`. Polling, because the protocol
/// offers no other readiness signal, and the server may not be listening yet.
pub(crate) async fn wait_ready(endpoint: &Endpoint, within: Duration) -> Result<(), LoadError> {
    let deadline = Instant::now() + within;
    let addr = endpoint.uri().authority().map(|a| a.to_string());
    loop {
        let attempt = async {
            let channel = endpoint.connect().await.map_err(|e| e.to_string())?;
            let mut request = Request::new(ServerReadyRequest {});
            request.set_timeout(Duration::from_secs(2));
            match client(channel).server_ready(request).await {
                Ok(r) if r.get_ref().ready => Ok(()),
                Ok(_) => Err("ServerReady answered false".to_owned()),
                Err(status) => Err(format!("ServerReady: {}", code_name(status.code()))),
            }
        };
        let last = match tokio::time::timeout_at(deadline, attempt).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(problem)) => problem,
            Err(_) => "no answer".to_owned(),
        };
        if Instant::now() + Duration::from_millis(200) >= deadline {
            return Err(LoadError::NotReady {
                addr: addr.unwrap_or_default(),
                within,
                last,
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::proto::model_infer_response::InferOutputTensor;
    use super::*;

    #[test]
    fn a_request_is_one_bytes_tensor_of_utf8_documents_marked_str() {
        let r = infer_request("m", ["é a", "b"]);
        assert_eq!(r.model_name, "m");
        let [t] = &r.inputs[..] else { panic!("{r:?}") };
        assert_eq!((t.name.as_str(), t.datatype.as_str()), ("text", "BYTES"));
        assert_eq!(t.shape, [2]);
        let c = t.contents.as_ref().unwrap();
        assert_eq!(c.bytes_contents, ["é a".as_bytes().to_vec(), b"b".to_vec()]);
        assert_eq!(
            t.parameters["content_type"].parameter_choice,
            Some(ParameterChoice::StringParam("str".into()))
        );
    }

    fn output(datatype: &str, shape: Vec<i64>, bytes: &[&str]) -> InferOutputTensor {
        InferOutputTensor {
            name: "predict".into(),
            datatype: datatype.into(),
            shape,
            contents: Some(InferTensorContents {
                bytes_contents: bytes.iter().map(|b| b.as_bytes().to_vec()).collect(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn labels_come_from_contents_or_raw_bytes() {
        let some = |v: &[&str]| Some(v.iter().map(|s| Some(s.to_string())).collect::<Vec<_>>());
        let r = ModelInferResponse {
            outputs: vec![output("BYTES", vec![2], &["earn", "acq"])],
            ..Default::default()
        };
        assert_eq!(top_labels(r), some(&["earn", "acq"]));

        let mut raw = Vec::new();
        for l in ["trade", ""] {
            raw.extend((l.len() as u32).to_le_bytes());
            raw.extend(l.as_bytes());
        }
        let r = ModelInferResponse {
            outputs: vec![output("BYTES", vec![2], &[])],
            raw_output_contents: vec![raw.clone()],
            ..Default::default()
        };
        assert_eq!(top_labels(r), some(&["trade", ""]));

        // Cut inside an element: not a usable answer.
        let r = ModelInferResponse {
            outputs: vec![output("BYTES", vec![2], &[])],
            raw_output_contents: vec![raw[..raw.len() - 2].to_vec()],
            ..Default::default()
        };
        assert_eq!(top_labels(r), None);
        assert_eq!(top_labels(ModelInferResponse::default()), None);

        // Class ids: counted, not checked.
        let r = ModelInferResponse {
            outputs: vec![output("INT64", vec![3], &[])],
            ..Default::default()
        };
        assert_eq!(top_labels(r), Some(vec![None; 3]));
    }
}
