//! Client deadlines (`grpc-timeout`).
//!
//! tonic's server honours `grpc-timeout` itself but answers CANCELLED ("Timeout expired")
//! when it fires; the gRPC spec (and our contract) says DEADLINE_EXCEEDED. So the request
//! layer parses the header again, fires [`EARLY`] before tonic's own timer, and answers
//! DEADLINE_EXCEEDED; handlers also check the deadline between documents and after work
//! that ran to completion without yielding (inline classification cannot be interrupted).

use std::time::Duration;

use http::HeaderMap;
use tokio::time::Instant;

use super::error::ServerError;

/// How much earlier than tonic's own timer ours fires, so ours always wins the race (both
/// count from the same header; tokio timers have millisecond resolution).
pub const EARLY: Duration = Duration::from_millis(1);

/// The instant by which the client wants its answer; in the request extensions when the
/// client sent `grpc-timeout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline(pub Instant);

impl Deadline {
    /// DEADLINE_EXCEEDED once the deadline has passed.
    pub fn check(deadline: Option<Deadline>) -> Result<(), ServerError> {
        match deadline {
            Some(Deadline(at)) if Instant::now() >= at => Err(ServerError::DeadlineExceeded),
            _ => Ok(()),
        }
    }

    /// When the server gives up: [`EARLY`] before the deadline.
    pub fn give_up_at(self) -> Instant {
        self.0.checked_sub(EARLY).unwrap_or(self.0)
    }
}

/// The client's timeout from `grpc-timeout`, if present and well-formed (a malformed header is
/// ignored, as tonic does). Format: 1 to 8 ASCII digits and a unit, `H M S m u n`.
pub fn parse_timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("grpc-timeout", v.parse().unwrap());
        h
    }

    #[test]
    fn every_unit_of_the_spec_parses() {
        assert_eq!(
            parse_timeout(&headers("2H")),
            Some(Duration::from_secs(7200))
        );
        assert_eq!(
            parse_timeout(&headers("3M")),
            Some(Duration::from_secs(180))
        );
        assert_eq!(parse_timeout(&headers("4S")), Some(Duration::from_secs(4)));
        assert_eq!(
            parse_timeout(&headers("5m")),
            Some(Duration::from_millis(5))
        );
        assert_eq!(
            parse_timeout(&headers("6u")),
            Some(Duration::from_micros(6))
        );
        assert_eq!(parse_timeout(&headers("7n")), Some(Duration::from_nanos(7)));
    }

    #[test]
    fn malformed_or_absent_timeouts_are_ignored() {
        assert_eq!(parse_timeout(&HeaderMap::new()), None);
        for bad in ["", "S", "123456789S", "1x", "-1S", "1.5S"] {
            assert_eq!(parse_timeout(&headers(bad)), None, "{bad:?}");
        }
    }

    #[test]
    fn a_passed_deadline_is_exceeded() {
        let past = Deadline(Instant::now() - Duration::from_millis(5));
        assert!(matches!(
            Deadline::check(Some(past)),
            Err(ServerError::DeadlineExceeded)
        ));
        let future = Deadline(Instant::now() + Duration::from_secs(60));
        assert!(Deadline::check(Some(future)).is_ok());
        assert!(Deadline::check(None).is_ok());
    }
}
