//! What the host has: its IPv4 routes (a new network's subnet must not shadow one).

use ipnet::{IpNet, Ipv4Net};
use std::net::Ipv4Addr;

/// Destinations of the host's IPv4 routes, from /proc/net/route (default routes included;
/// IPAM ignores prefix length 0). Routes through `except` (our own bridges) are left out.
pub fn routes(except: &[String]) -> Vec<IpNet> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    parse_routes(&text, except)
}

fn parse_routes(text: &str, except: &[String]) -> Vec<IpNet> {
    let hex = |s: &str| u32::from_str_radix(s, 16).ok();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 8 || except.iter().any(|e| e == f[0]) {
                return None;
            }
            // Little-endian hex, as the kernel prints it.
            let dest = Ipv4Addr::from(hex(f[1])?.swap_bytes());
            let mask = hex(f[7])?.swap_bytes();
            let net = Ipv4Net::new(dest, mask.count_ones() as u8).ok()?;
            Some(IpNet::V4(net))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_read_from_the_kernel_table() {
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
berth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
        let r = parse_routes(text, &["berth0".to_string()]);
        let s: Vec<String> = r.iter().map(|n| n.to_string()).collect();
        assert_eq!(s, vec!["0.0.0.0/0", "192.168.1.0/24"]);
    }
}
