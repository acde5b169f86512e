//! Small network values that both the lesson model and the kernel layer speak: a namespace as
//! lessons name it, an address with its prefix length, a MAC address.
//!
//! Pure data: no I/O. Living here, apart from both, keeps the kernel layer from importing the
//! lesson model and the lesson model from importing the kernel layer.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// C's strto(u)l with base 0, the whole string used: white space, a sign, then `0x` hex, `0`
/// octal or decimal digits, and nothing after them (`+0x10` is 16; `0x+10` and `0+10` are not
/// numbers). The sign and the magnitude; the magnitude is `None` when it overflows 64 bits.
fn c_number(s: &str) -> Option<(bool, Option<u64>)> {
    let s = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    // `0x` with no hex digit is the number 0 followed by an `x`.
    if digits.is_empty() && radix != 8 {
        return None;
    }
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    if digits.is_empty() {
        return Some((negative, Some(0)));
    }
    Some((negative, u64::from_str_radix(digits, radix).ok()))
}

/// C's strtoul with base 0, as iproute2's get_unsigned uses it: the whole string must be used,
/// a value too large is refused (ERANGE), and a minus sign negates modulo 2^64.
pub fn strtoul(s: &str) -> Option<u64> {
    let (negative, v) = c_number(s)?;
    let v = v?;
    Some(if negative { v.wrapping_neg() } else { v })
}

/// C's strtol with base 0 into an int, as iproute2's get_integer reads it: the whole string,
/// within an int's range.
pub fn strtol_int(s: &str) -> Option<i32> {
    let (negative, v) = c_number(s)?;
    let v = i128::from(v?);
    i32::try_from(if negative { -v } else { v }).ok()
}

/// iproute2's check_ifname: a name the kernel could give an interface (not empty, shorter
/// than IFNAMSIZ, no '/' nor white space). ip sends any other name as an altname.
pub fn valid_ifname(s: &str) -> bool {
    !s.is_empty() && s.len() < 16 && !s.contains('/') && !s.contains(char::is_whitespace)
}

/// The index in ip's own notation of a link by its index, `if%u` as iproute2's ll_idx_a2n
/// reads it with sscanf: `if`, then white space, a sign and decimal digits, anything after
/// them ignored (`if3`, `if 3`, `if03x` are index 3; `if-1` wraps to 4294967295).
pub fn ip_index_name(name: &str) -> Option<u32> {
    let rest = name
        .strip_prefix("if")?
        .trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (negative, rest) = match rest.as_bytes().first() {
        Some(b'-') => (true, &rest[1..]),
        Some(b'+') => (false, &rest[1..]),
        _ => (false, rest),
    };
    let digits: &str = &rest[..rest.bytes().take_while(u8::is_ascii_digit).count()];
    if digits.is_empty() {
        return None;
    }
    // strtoul: a value too large is ULONG_MAX; a minus sign negates, modulo 2^64. scanf
    // stores its low 32 bits.
    let v = digits.parse::<u64>().unwrap_or(u64::MAX);
    let v = if negative { v.wrapping_neg() } else { v };
    Some(v as u32)
}

/// procps sysctl's `slashdot`: from the key's first separator (`.` or `/`) on, `old` and `new`
/// trade places, unless that first separator already is `new` (the key is in the wanted form).
fn slashdot(key: &str, old: char, new: char) -> String {
    match key.find(['.', '/']) {
        Some(i) if !key[i..].starts_with(new) => key
            .chars()
            .map(|c| match c {
                c if c == old => new,
                c if c == new => old,
                c => c,
            })
            .collect(),
        _ => key.to_string(),
    }
}

/// A sysctl key as procps' sysctl(8) names it, from either spelling it accepts: the dotted
/// form (`net.ipv4.conf.veth0/5.forwarding`, where `/` stands for a `.` inside a part, such as
/// a link name) or the path form (`net/ipv4/conf/veth0.5/forwarding`, whose first separator is
/// a `/`, taken as it is). The dotted form is what sysctl prints, and nslab's one spelling of a
/// key: in the effect model, in `sysctl` checks, in the ledger.
pub fn sysctl_key(typed: &str) -> String {
    slashdot(&slashdot(typed, '.', '/'), '/', '.')
}

/// The file of a sysctl under /proc/sys, from either spelling (see [`sysctl_key`]), as procps
/// opens it: `net.ipv4.conf.veth0/5.forwarding` is `net/ipv4/conf/veth0.5/forwarding`.
pub fn sysctl_file(key: &str) -> String {
    slashdot(key, '.', '/')
}

/// The name a link has inside a sysctl key (`veth0.5` is `veth0/5`, in
/// `net.ipv4.conf.veth0/5.forwarding`).
pub fn sysctl_part(name: &str) -> String {
    name.replace('.', "/")
}

/// A network namespace as lessons name it: the root one (where nslab started), or a named one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ns {
    Root,
    Named(String),
}

impl Ns {
    /// `root` is the root namespace; any other word is a named namespace.
    pub fn from_name(name: &str) -> Ns {
        if name == "root" {
            Ns::Root
        } else {
            Ns::Named(name.to_string())
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Ns::Root => "root",
            Ns::Named(n) => n,
        }
    }

    pub fn is_root(&self) -> bool {
        matches!(self, Ns::Root)
    }

    /// `ip` or `ip -n NS`: how a command line reaches this namespace.
    pub fn ip(&self) -> String {
        match self {
            Ns::Root => "ip".into(),
            Ns::Named(n) => format!("ip -n {n}"),
        }
    }

    /// `in the root namespace`, `in blue`: where something is, in a sentence.
    pub fn where_(&self) -> String {
        match self {
            Ns::Root => "in the root namespace".into(),
            Ns::Named(n) => format!("in {n}"),
        }
    }
}

impl fmt::Display for Ns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ns::Root => f.write_str("the root namespace"),
            Ns::Named(n) => write!(f, "netns {n}"),
        }
    }
}

/// An address with its prefix length, as in `10.1.0.2/24` or `2001:db8::1/64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn new(addr: IpAddr, prefix: u8) -> Cidr {
        Cidr { addr, prefix }
    }

    /// The longest prefix of the address's family: 32 or 128.
    pub fn max_prefix(addr: &IpAddr) -> u8 {
        if addr.is_ipv4() { 32 } else { 128 }
    }

    /// A host address: /32 or /128.
    pub fn host(addr: IpAddr) -> Cidr {
        Cidr {
            prefix: Cidr::max_prefix(&addr),
            addr,
        }
    }

    pub fn is_v4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// The network this address belongs to (host bits cleared).
    pub fn network(&self) -> Cidr {
        let addr = match self.addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
        };
        Cidr {
            addr,
            prefix: self.prefix,
        }
    }

    /// Whether `ip` lies inside this prefix.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4()
            && Cidr::new(*ip, self.prefix).network() == self.network()
    }

    /// Whether the address has host bits set (the kernel refuses such a route destination).
    pub fn has_host_bits(&self) -> bool {
        self.network().addr != self.addr
    }

    /// Parses `ADDR` or `ADDR/LEN`; a bare address is a host address.
    pub fn parse_maybe_host(s: &str) -> Result<Cidr, String> {
        if s.contains('/') {
            s.parse()
        } else {
            s.parse::<IpAddr>()
                .map(Cidr::host)
                .map_err(|_| format!("'{s}' is not an IP address"))
        }
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| "the prefix length is missing (write it as /24)".to_string())?;
        let addr = a
            .parse::<IpAddr>()
            .map_err(|_| format!("'{a}' is not an IP address"))?;
        let max = Cidr::max_prefix(&addr);
        let prefix = p
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("'{p}' is not a prefix length from 0 to {max}"))?;
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A link-layer (Ethernet) address, kept in the lower-case colon form `ip` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl FromStr for Mac {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let bad = || format!("'{s}' is not a MAC address (write it as 02:00:00:00:00:01)");
        if parts.len() != 6 {
            return Err(bad());
        }
        let mut m = [0u8; 6];
        for (i, p) in parts.iter().enumerate() {
            if p.is_empty() || p.len() > 2 {
                return Err(bad());
            }
            m[i] = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        Ok(Mac(m))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// Route types (RTN_*, linux/rtnetlink.h).
pub mod rtn {
    pub const UNSPEC: u8 = 0;
    pub const UNICAST: u8 = 1;
    pub const LOCAL: u8 = 2;
    pub const BROADCAST: u8 = 3;
    pub const ANYCAST: u8 = 4;
    pub const MULTICAST: u8 = 5;
    pub const BLACKHOLE: u8 = 6;
    pub const UNREACHABLE: u8 = 7;
    pub const PROHIBIT: u8 = 8;
    pub const THROW: u8 = 9;
    pub const NAT: u8 = 10;

    /// The word `ip route` prints for a type.
    pub fn name(t: u8) -> &'static str {
        match t {
            UNICAST => "unicast",
            LOCAL => "local",
            BROADCAST => "broadcast",
            ANYCAST => "anycast",
            MULTICAST => "multicast",
            BLACKHOLE => "blackhole",
            UNREACHABLE => "unreachable",
            PROHIBIT => "prohibit",
            THROW => "throw",
            NAT => "nat",
            _ => "unspec",
        }
    }

    /// The type's name after its article: "an unreachable", "a blackhole".
    pub fn a(t: u8) -> String {
        let name = name(t);
        // "unicast" sounds as "you": a unicast.
        let an = name.starts_with(['a', 'e', 'i', 'o']) || name.starts_with("unr");
        format!("{} {name}", if an { "an" } else { "a" })
    }
}

/// Routing tables (RT_TABLE_*).
pub mod table {
    pub const UNSPEC: u32 = 0;
    pub const DEFAULT: u32 = 253;
    pub const MAIN: u32 = 254;
    pub const LOCAL: u32 = 255;
}

/// How far an address or a route reaches (RT_SCOPE_*).
pub mod scope {
    pub const UNIVERSE: u8 = 0;
    pub const SITE: u8 = 200;
    pub const LINK: u8 = 253;
    pub const HOST: u8 = 254;
    pub const NOWHERE: u8 = 255;
}

/// Who made a route (RTPROT_*).
pub mod proto {
    pub const UNSPEC: u8 = 0;
    pub const KERNEL: u8 = 2;
    pub const BOOT: u8 = 3;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ip 6.1 (measured): `mtu +0x5dc` is 1500 and `metric -0` is 0, while `mtu 0x+5dc` and
    /// `mtu 0+1400` are refused: a sign comes before the base's prefix, never after it.
    #[test]
    fn numbers_are_read_as_strtoul_reads_them() {
        assert_eq!(strtoul("+0x5dc"), Some(1500));
        assert_eq!(strtoul("-0"), Some(0));
        assert_eq!(strtoul(" 7"), Some(7));
        assert_eq!(strtoul("010"), Some(8));
        assert_eq!(strtoul("0"), Some(0));
        assert_eq!(strtoul("-1"), Some(u64::MAX));
        for bad in [
            "0x+5dc",
            "0+1400",
            "0x-10",
            "08",
            "0x",
            "",
            "+",
            "5 ",
            "99999999999999999999",
        ] {
            assert_eq!(strtoul(bad), None, "{bad:?}");
        }
        assert_eq!(strtol_int("-0x10"), Some(-16));
        assert_eq!(strtol_int("+7"), Some(7));
        assert_eq!(strtol_int("-2147483648"), Some(i32::MIN));
        assert_eq!(strtol_int("2147483648"), None);
        assert_eq!(strtol_int("-+5"), None);
    }

    /// ip 6.1 (measured): `ip addr add ... dev if3`, `if 3`, `if+3`, `if03`, `if3x` all name
    /// index 3; `if`, `ifx` and `eth0` are no index.
    #[test]
    fn ip_index_names_are_read_as_sscanf_reads_them() {
        for n in ["if3", "if 3", "if+3", "if03", "if3x", "if\t3"] {
            assert_eq!(ip_index_name(n), Some(3), "{n}");
        }
        assert_eq!(ip_index_name("if-1"), Some(u32::MAX));
        assert_eq!(ip_index_name("if0"), Some(0));
        for n in ["if", "ifx", "if -", "eth0", "If3", " if3"] {
            assert_eq!(ip_index_name(n), None, "{n}");
        }
    }

    /// procps 4.0.2 (measured): `sysctl -w net.ipv4.conf.veth0/5.forwarding=1` and
    /// `sysctl -w net/ipv4/conf/veth0.5/forwarding=1` both write
    /// /proc/sys/net/ipv4/conf/veth0.5/forwarding and print `net.ipv4.conf.veth0/5.forwarding`;
    /// `net.ipv4/conf/veth0/5.forwarding` (first separator a dot) is swapped throughout.
    #[test]
    fn sysctl_keys_are_spelled_as_procps_spells_them() {
        let dotted = "net.ipv4.conf.veth0/5.forwarding";
        for typed in [dotted, "net/ipv4/conf/veth0.5/forwarding"] {
            assert_eq!(sysctl_key(typed), dotted, "{typed}");
            assert_eq!(sysctl_file(typed), "net/ipv4/conf/veth0.5/forwarding");
        }
        assert_eq!(sysctl_key("net/ipv4/ip_forward"), "net.ipv4.ip_forward");
        assert_eq!(sysctl_file("net.ipv4.ip_forward"), "net/ipv4/ip_forward");
        assert_eq!(
            sysctl_file("net.ipv4/conf/veth0/5.forwarding"),
            "net/ipv4.conf.veth0.5/forwarding"
        );
        assert_eq!(sysctl_key("forwarding"), "forwarding");
        assert_eq!(sysctl_part("veth0.5"), "veth0/5");
    }

    #[test]
    fn route_types_take_their_article() {
        assert_eq!(rtn::a(rtn::UNREACHABLE), "an unreachable");
        assert_eq!(rtn::a(rtn::ANYCAST), "an anycast");
        assert_eq!(rtn::a(rtn::UNICAST), "a unicast");
        assert_eq!(rtn::a(rtn::BLACKHOLE), "a blackhole");
    }

    #[test]
    fn cidrs_of_both_families() {
        let c: Cidr = "10.1.0.2/24".parse().unwrap();
        assert_eq!(c.network().to_string(), "10.1.0.0/24");
        assert!(c.has_host_bits());
        assert!(c.contains(&"10.1.0.200".parse().unwrap()));
        assert!(!c.contains(&"10.1.1.1".parse().unwrap()));
        let v6: Cidr = "2001:db8::1/64".parse().unwrap();
        assert_eq!(v6.network().to_string(), "2001:db8::/64");
        assert!(!v6.contains(&"10.1.0.2".parse().unwrap()));
        assert_eq!(
            "10.0.0.1/33".parse::<Cidr>().unwrap_err(),
            "'33' is not a prefix length from 0 to 32"
        );
        assert_eq!(
            Cidr::parse_maybe_host("10.0.0.9").unwrap().to_string(),
            "10.0.0.9/32"
        );
        assert_eq!(
            Cidr::parse_maybe_host("::1").unwrap().to_string(),
            "::1/128"
        );
        let zero: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(zero.contains(&"192.0.2.1".parse().unwrap()));
    }

    #[test]
    fn macs_print_as_ip_prints_them() {
        let m: Mac = "02:AA:0:0:0:1".parse().unwrap();
        assert_eq!(m.to_string(), "02:aa:00:00:00:01");
        assert!("02:aa:00:00:00".parse::<Mac>().is_err());
        assert!("02:aa:00:00:00:zz".parse::<Mac>().is_err());
    }
}
