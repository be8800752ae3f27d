//! The request log: one line per call, with its method, status code, latency and request id.
//!
//! Request texts are never logged whole: at most an excerpt of `--log-text-chars` characters
//! (0 by default: none), with control characters blanked so a line stays one line. Bearer
//! tokens are never logged (metadata is not logged at all).

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use tonic::Code;

use super::method::Method;
use super::metrics::code_name;

/// The metadata key carrying the request id, both ways.
pub const REQUEST_ID: &str = "x-request-id";

/// The request id: the caller's `x-request-id` when it is a sensible token (1 to 128
/// visible ASCII characters), otherwise a fresh UUID.
///
/// The value is marked sensitive, which only tells HTTP/2 header compression (HPACK) not to
/// index it: an id is different on every call, so indexing it would only churn the
/// connection's header table (each response would insert one, evict an older entry, and be
/// compared against every id still in the table first).
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    let mut id = headers
        .get(REQUEST_ID)
        .filter(|v| {
            let b = v.as_bytes();
            !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_graphic())
        })
        .cloned()
        .unwrap_or_else(fresh_request_id);
    id.set_sensitive(true);
    id
}

/// A fresh random (version 4) UUID as a header value.
///
/// Why not `Uuid::new_v4()`: it asks the kernel for randomness (a `getrandom` system call)
/// on every call, which showed up in the per-call cost; the thread-local generator is a
/// cryptographically secure one seeded (and periodically reseeded) from the OS, so ids stay
/// unguessable and unique without a system call. Formatted on the stack: no `String`.
fn fresh_request_id() -> HeaderValue {
    let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = id.hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(text).expect("a UUID is a valid header value")
}

/// A slot, in the request extensions, where the handler leaves an excerpt of the request
/// text for the log line. Present only when `--log-text-chars` is above 0.
#[derive(Clone, Debug)]
pub struct Excerpt {
    slot: Arc<OnceLock<String>>,
    chars: usize,
}

impl Excerpt {
    /// An empty slot for up to `chars` characters.
    pub fn new(chars: usize) -> Self {
        Excerpt {
            slot: Arc::default(),
            chars,
        }
    }

    /// Keeps the start of `text` (the first call wins: a batch or stream logs its first
    /// document).
    pub fn record(&self, text: &str) {
        self.slot.get_or_init(|| {
            let mut out: String = text
                .chars()
                .take(self.chars)
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            if text.chars().nth(self.chars).is_some() {
                out.push('…');
            }
            out
        });
    }

    /// The excerpt, if the handler left one.
    pub fn get(&self) -> Option<&str> {
        self.slot.get().map(String::as_str)
    }
}

/// One finished call, as logged.
#[derive(Debug)]
pub struct CallLog<'a> {
    /// The method.
    pub method: Method,
    /// Its status code.
    pub code: Code,
    /// The status message (empty for OK).
    pub message: &'a str,
    /// Time from the request headers to the end of the response.
    pub latency: Duration,
    /// The request id.
    pub request_id: &'a HeaderValue,
    /// The client's address.
    pub peer: Option<SocketAddr>,
    /// Start of the request text, when enabled.
    pub text: Option<&'a str>,
}

macro_rules! call_event {
    ($level:ident, $c:expr) => {
        tracing::$level!(
            target: "attache::request",
            method = $c.method.name(),
            code = code_name($c.code),
            latency_ms = $c.latency.as_secs_f64() * 1e3,
            request_id = $c.request_id.to_str().unwrap_or("?"),
            peer = $c.peer.map(tracing::field::display),
            error = (!$c.message.is_empty()).then_some($c.message),
            text = $c.text,
            "call"
        )
    };
}

impl CallLog<'_> {
    /// Writes the line: ERROR for server faults, WARN for overload, deadlines, shutdown and
    /// refused credentials, INFO otherwise (client mistakes are the client's business).
    pub fn emit(&self) {
        match self.code {
            Code::Internal | Code::Unknown | Code::DataLoss => call_event!(error, self),
            Code::ResourceExhausted
            | Code::DeadlineExceeded
            | Code::Unavailable
            | Code::Aborted
            | Code::Unauthenticated
            | Code::PermissionDenied => call_event!(warn, self),
            _ => call_event!(info, self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sensible_caller_request_id_is_kept_and_anything_else_replaced() {
        let mut h = HeaderMap::new();
        h.insert(REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(request_id(&h), "abc-123");
        h.insert(REQUEST_ID, HeaderValue::from_static("has space"));
        let generated = request_id(&h);
        let parsed = uuid::Uuid::parse_str(generated.to_str().unwrap()).unwrap();
        assert_eq!(parsed.get_version(), Some(uuid::Version::Random));
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
        assert_ne!(request_id(&HeaderMap::new()), request_id(&HeaderMap::new()));
        assert!(request_id(&HeaderMap::new()).is_sensitive());
    }

    #[test]
    fn excerpts_are_bounded_single_line_and_first_come() {
        let e = Excerpt::new(5);
        e.record("ab\ncdefgh");
        e.record("second document");
        assert_eq!(e.get(), Some("ab cd…"));
        let short = Excerpt::new(10);
        short.record("héllo");
        assert_eq!(short.get(), Some("héllo"));
    }
}
