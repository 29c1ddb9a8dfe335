//! The webhook target rule (API.md §10.3) on what a URL literally says: scheme and host.
//! The sender applies the same rule to every DNS answer and connects to the checked address;
//! this part runs wherever a target is saved (webhook configs, webhook_delivery jobs).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a target is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetError {
    /// Not a URL with a host.
    Invalid,
    /// A scheme, host or address the rule forbids (400 target_not_allowed).
    NotAllowed,
}

/// Checks `url` against §10.3: `https://` only and no localhost, loopback, private, CGNAT,
/// link-local, unspecified, multicast, broadcast or IPv4-mapped literal; `allow_private`
/// (WEBHOOK_ALLOW_PRIVATE_TARGETS, local development) lifts the address rule and allows
/// `http://`.
pub fn check_target(url: &str, allow_private: bool) -> Result<(), TargetError> {
    let parsed = url::Url::parse(url).map_err(|_| TargetError::Invalid)?;
    let host = parsed.host().ok_or(TargetError::Invalid)?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_private => {}
        "http" => return Err(TargetError::NotAllowed),
        _ => return Err(TargetError::Invalid),
    }
    if allow_private {
        return Ok(());
    }
    let blocked = match host {
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        url::Host::Ipv4(ip) => !is_public(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => !is_public(IpAddr::V6(ip)),
    };
    if blocked {
        Err(TargetError::NotAllowed)
    } else {
        Ok(())
    }
}

/// Whether an address may receive webhooks (the address half of §10.3).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible forms are refused outright.
            if v6.to_ipv4_mapped().is_some() || v6.segments()[..6] == [0; 6] {
                return false;
            }
            let first = v6.segments()[0];
            let unique_local = (first & 0xfe00) == 0xfc00; // fc00::/7
            let link_local = (first & 0xffc0) == 0xfe80; // fe80::/10
            !(v6 == Ipv6Addr::LOCALHOST
                || v6.is_unspecified()
                || v6.is_multicast()
                || unique_local
                || link_local)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || (a == 100 && (64..=127).contains(&b)) // CGNAT 100.64/10
        || a == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_https_targets_pass() {
        assert_eq!(check_target("https://hooks.example.com/x", false), Ok(()));
        assert_eq!(check_target("https://93.184.216.34/x", false), Ok(()));
        assert_eq!(check_target("https://[2606:4700::1111]/", false), Ok(()));
    }

    #[test]
    fn the_rule_refuses_private_and_plain_targets() {
        for url in [
            "http://hooks.example.com/x",
            "https://localhost/x",
            "https://api.localhost/x",
            "https://127.0.0.1/x",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://192.168.1.1/",
            "https://100.64.0.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://0.0.0.0/",
            "https://255.255.255.255/",
            "https://224.0.0.1/",
            "https://[::1]/",
            "https://[::]/",
            "https://[fc00::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:8.8.8.8]/",
            "https://2130706433/", // 127.0.0.1 as one number
        ] {
            assert_eq!(
                check_target(url, false),
                Err(TargetError::NotAllowed),
                "{url}"
            );
        }
        assert_eq!(
            check_target("ftp://example.com/", false),
            Err(TargetError::Invalid)
        );
        assert_eq!(check_target("not a url", false), Err(TargetError::Invalid));
    }

    #[test]
    fn local_development_lifts_the_rule() {
        assert_eq!(check_target("http://127.0.0.1:9000/hook", true), Ok(()));
        assert_eq!(
            check_target("ftp://127.0.0.1/", true),
            Err(TargetError::Invalid)
        );
    }
}
