//! Numbers and addresses as iproute2 reads them (lib/utils.c): `10.1` is 10.1.0.0, octal and
//! hex octets, a netmask where a prefix length goes, `default`, `any` and `all`. nslab must
//! accept exactly what `ip` accepts, and mean the same by it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address family a value may be restricted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Any,
    V4,
    V6,
}

impl Family {
    pub fn of(ip: &IpAddr) -> Family {
        if ip.is_ipv4() { Family::V4 } else { Family::V6 }
    }

    fn verbose(self) -> &'static str {
        match self {
            Family::Any => "any valid",
            Family::V4 => "inet",
            Family::V6 => "inet6",
        }
    }
}

/// A prefix as iproute2 parses it: an address (absent for `default`, `any`, `all`) and a
/// length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    pub addr: Option<IpAddr>,
    pub len: u8,
    /// The family the word itself showed (`default` shows none).
    pub family: Family,
    /// `/N` was written (or `default`).
    pub len_given: bool,
}

pub use crate::net::strtoul;

/// get_unsigned: a u32 written in C's notations.
pub fn unsigned(s: &str) -> Option<u32> {
    strtoul(s).and_then(|v| u32::try_from(v).ok())
}

/// get_integer: an int (a sign allowed).
pub fn integer(s: &str) -> Option<i32> {
    crate::net::strtol_int(s)
}

/// glibc's atoi: strtol in base 10 cast to an int. White space, a sign, decimal digits, and
/// whatever follows them is ignored (`5abc` is 5, `0x10` is 0, `010` is 10); no digits is 0; a
/// value beyond a long is LONG_MAX or LONG_MIN, and the int keeps the low 32 bits.
pub fn atoi(s: &str) -> i32 {
    let s = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let digits = &s[..s.bytes().take_while(u8::is_ascii_digit).count()];
    let long: i64 = match digits.parse::<u64>() {
        Ok(v) if negative => 0i64.checked_sub_unsigned(v).unwrap_or(i64::MIN),
        Ok(v) => i64::try_from(v).unwrap_or(i64::MAX),
        Err(_) if digits.is_empty() => 0,
        Err(_) if negative => i64::MIN,
        Err(_) => i64::MAX,
    };
    long as i32
}

/// glibc's sscanf("%x") into an int: white space, a sign, an optional `0x`, hex digits (what
/// follows them is left); the value is strtoul's (ULONG_MAX when too large, negated modulo
/// 2^64 after a minus), of which the int keeps the low 32 bits. `None`: no number.
fn scan_hex(s: &str) -> Option<i32> {
    let s = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (prefixed, s) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let digits = &s[..s.bytes().take_while(u8::is_ascii_hexdigit).count()];
    if digits.is_empty() && !prefixed {
        return None;
    }
    let v = if digits.is_empty() {
        0
    } else {
        u64::from_str_radix(digits, 16).unwrap_or(u64::MAX)
    };
    let v = if negative { v.wrapping_neg() } else { v };
    Some(v as u32 as i32)
}

/// get_addr_ipv4: one to four dotted numbers, each up to 255, in C's notations; missing
/// octets are zero.
fn ipv4(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut o = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        let n = strtoul(p)?;
        o[i] = u8::try_from(n).ok()?;
    }
    Some(Ipv4Addr::from(o))
}

/// get_addr_1 for the inet families: an address, or `None` for `default`/`any`/`all`.
fn addr_1(s: &str, family: Family) -> Result<(Option<IpAddr>, Family, bool), ()> {
    match s {
        "default" => return Ok((None, family, true)),
        "all" | "any" => return Ok((None, family, false)),
        _ => {}
    }
    if s.contains(':') {
        if family == Family::V4 {
            return Err(());
        }
        let a: Ipv6Addr = s.parse().map_err(|_| ())?;
        return Ok((Some(IpAddr::V6(a)), Family::V6, false));
    }
    if family == Family::V6 {
        return Err(());
    }
    ipv4(s)
        .map(|a| (Some(IpAddr::V4(a)), Family::V4, false))
        .ok_or(())
}

/// get_addr: a single address (`default` and `any` allowed, as iproute2 allows them).
pub fn addr(s: &str, family: Family) -> Result<Option<IpAddr>, String> {
    addr_1(s, family).map(|(a, _, _)| a).map_err(|_| {
        format!(
            "Error: {} address is expected rather than \"{s}\".",
            family.verbose()
        )
    })
}

/// get_netmask: a prefix length in C's notations, or a dotted netmask with contiguous ones.
fn netmask(s: &str) -> Option<u32> {
    if let Some(v) = unsigned(s) {
        return Some(v);
    }
    let m = u32::from(ipv4(s)?);
    let ones = m.leading_ones();
    (m.checked_shl(ones).unwrap_or(0) == 0).then_some(ones)
}

/// get_prefix: `ADDR[/LEN]`, `default`, `any`, `all`.
pub fn prefix(s: &str, family: Family) -> Result<Prefix, String> {
    let err = || {
        format!(
            "Error: {} prefix is expected rather than \"{s}\".",
            family.verbose()
        )
    };
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let (ip, fam, is_default) = addr_1(a, family).map_err(|_| err())?;
    let max: u32 = match ip {
        Some(IpAddr::V4(_)) => 32,
        Some(IpAddr::V6(_)) => 128,
        None => match fam {
            Family::V6 => 128,
            _ => 32,
        },
    };
    match len {
        Some(l) => {
            if ip.is_none() {
                return Err(err());
            }
            let n = netmask(l).ok_or_else(err)?;
            if n > max {
                return Err(err());
            }
            Ok(Prefix {
                addr: ip,
                len: n as u8,
                family: fam,
                len_given: true,
            })
        }
        None => Ok(Prefix {
            addr: ip,
            len: if ip.is_none() { 0 } else { max as u8 },
            family: fam,
            len_given: is_default,
        }),
    }
}

/// ll_addr_a2n: a link-layer address; returns its bytes.
pub fn lladdr(s: &str) -> Result<Vec<u8>, String> {
    let bad = || format!("\"{s}\" is invalid lladdr.");
    if s.contains('.') {
        return ipv4(s).map(|a| a.octets().to_vec()).ok_or_else(bad);
    }
    let mut out = Vec::new();
    for part in s.split(':') {
        // ip names the part it could not read (it cut the word at each colon).
        let bad = || format!("\"{part}\" is invalid lladdr.");
        let v = scan_hex(part).ok_or_else(bad)?;
        if !(0..=255).contains(&v) {
            return Err(bad());
        }
        out.push(v as u8);
        if out.len() == 32 {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_the_way_iproute2_reads_it() {
        assert_eq!(ipv4("10.1"), Some(Ipv4Addr::new(10, 1, 0, 0)));
        assert_eq!(ipv4("010.0.0.1"), Some(Ipv4Addr::new(8, 0, 0, 1)));
        assert_eq!(ipv4("0x0a.0.0.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(ipv4("10.1.0.300"), None);
        assert_eq!(ipv4("10.1.0.1.1"), None);
        assert_eq!(ipv4("10..1"), None);
    }

    /// ip 6.1 (measured): `ip link set veth0 address 0x02:0:0:0:0:1` sets 02:00:00:00:00:01;
    /// `020000000005` is one byte, 05 (sscanf keeps an int's low 32 bits), which ip then
    /// refuses for its length; `-1` and `fffffff05` are no byte.
    #[test]
    fn link_layer_addresses_as_sscanf_reads_them() {
        assert_eq!(lladdr("0x02:0:0:0:0:1"), Ok(vec![2, 0, 0, 0, 0, 1]));
        assert_eq!(lladdr("020000000005"), Ok(vec![5]));
        assert_eq!(lladdr("+2:0X1f:0g"), Ok(vec![2, 0x1f, 0]));
        for bad in ["-1", "fffffff05", "zz", ""] {
            assert_eq!(
                lladdr(bad),
                Err(format!("\"{bad}\" is invalid lladdr.")),
                "{bad}"
            );
        }
        // The part it could not read, as ip names it.
        assert_eq!(lladdr("02::01"), Err("\"\" is invalid lladdr.".into()));
        assert_eq!(lladdr("02:zz:01"), Err("\"zz\" is invalid lladdr.".into()));
    }

    #[test]
    fn prefixes() {
        let p = prefix("10.0.0.1/255.255.255.0", Family::Any).unwrap();
        assert_eq!(
            (p.addr.unwrap().to_string(), p.len),
            ("10.0.0.1".into(), 24)
        );
        assert_eq!(prefix("10.0.0.1", Family::Any).unwrap().len, 32);
        assert!(!prefix("10.0.0.1", Family::Any).unwrap().len_given);
        let d = prefix("default", Family::Any).unwrap();
        assert_eq!((d.addr, d.len), (None, 0));
        assert_eq!(prefix("2001:db8::/32", Family::Any).unwrap().len, 32);
        assert_eq!(
            prefix("10.1.0.300/24", Family::Any).unwrap_err(),
            "Error: any valid prefix is expected rather than \"10.1.0.300/24\"."
        );
        assert!(prefix("10.0.0.0/33", Family::Any).is_err());
        assert!(prefix("10.0.0.0/255.0.255.0", Family::Any).is_err());
        assert!(prefix("default/8", Family::Any).is_err());
        assert!(prefix("2001:db8::1", Family::V4).is_err());
    }

    #[test]
    fn numbers_and_lladdrs() {
        assert_eq!(unsigned("0x10"), Some(16));
        assert_eq!(unsigned("010"), Some(8));
        assert_eq!(unsigned("1400"), Some(1400));
        assert_eq!(unsigned("14x"), None);
        assert_eq!(unsigned(""), None);
        assert_eq!(integer("-1"), Some(-1));
        assert_eq!(lladdr("02:00:00:00:00:01").unwrap(), vec![2, 0, 0, 0, 0, 1]);
        assert!(lladdr("02:zz").is_err());
    }
}
