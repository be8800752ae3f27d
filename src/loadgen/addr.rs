//! The benchmark target: a loopback `HOST:PORT`, nothing else.
//!
//! Why no name resolution: a load generator aimed at the wrong host is a denial-of-service
//! tool. Only IP literals on the loopback network and the literal name `localhost` (taken as
//! 127.0.0.1, without asking any resolver) are accepted, so no query ever leaves the machine.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::LoadError;

/// Parses `addr` (`127.0.0.1:50051`, `[::1]:50051`, `localhost:50051`, optionally prefixed
/// with `http://`) and refuses anything that is not a loopback address.
pub fn loopback_addr(addr: &str) -> Result<SocketAddr, LoadError> {
    let bad = |problem: &str| LoadError::BadAddr {
        addr: addr.to_owned(),
        problem: problem.to_owned(),
    };
    let s = addr.trim();
    let s = s.strip_prefix("http://").unwrap_or(s);
    let s = s.strip_suffix('/').unwrap_or(s);
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return if sa.ip().is_loopback() {
            Ok(sa)
        } else {
            Err(LoadError::NotLoopback(addr.to_owned()))
        };
    }
    let (host, port) = s.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| bad("the port must be a number 0..=65535"))?;
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if host.is_empty() {
        return Err(bad("no host"));
    }
    // A host name or a non-loopback IP: either way not provably this machine.
    Err(LoadError::NotLoopback(addr.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_literals_and_localhost_are_accepted() {
        for (given, want) in [
            ("127.0.0.1:50051", "127.0.0.1:50051"),
            ("127.1.2.3:1", "127.1.2.3:1"),
            ("[::1]:8080", "[::1]:8080"),
            ("localhost:9000", "127.0.0.1:9000"),
            ("http://127.0.0.1:7/", "127.0.0.1:7"),
        ] {
            assert_eq!(loopback_addr(given).unwrap().to_string(), want, "{given}");
        }
    }

    #[test]
    fn other_hosts_are_refused_without_resolving_them() {
        for given in [
            "10.0.0.1:50051",
            "0.0.0.0:50051",
            "192.168.1.1:80",
            "[2001:db8::1]:80",
            "example.com:443",
            "localhost.evil.example:1",
        ] {
            let err = loopback_addr(given).unwrap_err();
            assert!(matches!(err, LoadError::NotLoopback(_)), "{given}: {err}");
            assert!(err.to_string().contains("loopback"), "{err}");
        }
    }

    #[test]
    fn malformed_addresses_say_what_is_wrong() {
        assert!(loopback_addr("127.0.0.1")
            .unwrap_err()
            .to_string()
            .contains("no port"));
        assert!(loopback_addr("localhost:http")
            .unwrap_err()
            .to_string()
            .contains("port"));
        assert!(loopback_addr(":80")
            .unwrap_err()
            .to_string()
            .contains("no host"));
    }
}
