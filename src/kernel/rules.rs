//! Policy routing rules (`ip rule`), read with a netlink dump of both families, and deleted
//! one by one as the dump gave them.

use std::fmt;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::rule::{RuleAttribute, RuleFlags, RuleMessage};
use rtnetlink::{Handle, IpVersion};

use super::{KernelError, Result};
use crate::net::{Cidr, Ns, table};

/// FR_ACT_* as `ip rule` names them (linux/fib_rules.h).
pub mod action {
    pub const TO_TABLE: u8 = 1;
    pub const GOTO: u8 = 2;
    pub const NOP: u8 = 3;
    pub const BLACKHOLE: u8 = 6;
    pub const UNREACHABLE: u8 = 7;
    pub const PROHIBIT: u8 = 8;
}

/// The kernel's "no value" for the suppress_* selectors (an unset u32 of -1).
const UNSET: u32 = u32::MAX;
/// The fwmark mask the kernel stores when `fwmark M` is given without one.
pub const FULL_MASK: u32 = u32::MAX;

/// One policy rule, as `ip rule` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub v6: bool,
    pub pref: u32,
    /// `not`: the selector is inverted.
    pub not: bool,
    /// `None`: from all.
    pub from: Option<Cidr>,
    pub to: Option<Cidr>,
    pub tos: u8,
    pub fwmark: Option<u32>,
    pub fwmask: Option<u32>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    /// The FR_ACT_ type ([`action`]).
    pub action: u8,
    /// The table looked up (0 when none is).
    pub table: u32,
    /// `goto PREF`.
    pub goto: Option<u32>,
    /// Selectors nslab does not model, as `ip rule` words (`ipproto 6`, `uidrange 0-10`...).
    pub other: Vec<String>,
}

impl Rule {
    fn of(m: &RuleMessage) -> Rule {
        let h = &m.header;
        let v6 = h.family == rtnetlink::packet_route::AddressFamily::Inet6;
        let mut r = Rule {
            v6,
            pref: 0,
            not: h.flags.contains(RuleFlags::Invert),
            from: None,
            to: None,
            tos: h.tos,
            fwmark: None,
            fwmask: None,
            iif: None,
            oif: None,
            action: u8::from(h.action),
            table: u32::from(h.table),
            goto: None,
            other: Vec::new(),
        };
        for a in &m.attributes {
            match a {
                RuleAttribute::Priority(p) => r.pref = *p,
                RuleAttribute::Source(ip) if h.src_len > 0 => {
                    r.from = Some(Cidr::new(*ip, h.src_len))
                }
                RuleAttribute::Destination(ip) if h.dst_len > 0 => {
                    r.to = Some(Cidr::new(*ip, h.dst_len))
                }
                RuleAttribute::FwMark(v) if *v != 0 => r.fwmark = Some(*v),
                RuleAttribute::FwMask(v) => r.fwmask = Some(*v),
                RuleAttribute::Iifname(n) => r.iif = Some(n.clone()),
                RuleAttribute::Oifname(n) => r.oif = Some(n.clone()),
                RuleAttribute::Table(t) => r.table = *t,
                RuleAttribute::Goto(g) => r.goto = Some(*g),
                RuleAttribute::SuppressPrefixLen(v) if *v != UNSET => {
                    r.other.push(format!("suppress_prefixlength {v}"))
                }
                RuleAttribute::SuppressIfGroup(v) if *v != UNSET => {
                    r.other.push(format!("suppress_ifgroup {v}"))
                }
                RuleAttribute::TunId(v) => r.other.push(format!("tun_id {v}")),
                RuleAttribute::L3MDev(true) => r.other.push("l3mdev".into()),
                RuleAttribute::UidRange(u) => {
                    r.other.push(format!("uidrange {}-{}", u.start, u.end))
                }
                RuleAttribute::IpProtocol(p) => r.other.push(format!("ipproto {}", u8::from(*p))),
                RuleAttribute::SourcePortRange(p) => {
                    r.other.push(port_range("sport", p.start, p.end))
                }
                RuleAttribute::DestinationPortRange(p) => {
                    r.other.push(port_range("dport", p.start, p.end))
                }
                RuleAttribute::Realm(x) => r
                    .other
                    .push(format!("realms {}/{}", x.source, x.destination)),
                _ => {}
            }
        }
        // Without a mark there is no mask to speak of; a full mask is `ip rule`'s "no mask".
        if r.fwmark.is_none() || r.fwmask == Some(FULL_MASK) {
            r.fwmask = None;
        }
        r
    }
}

fn port_range(word: &str, start: u16, end: u16) -> String {
    if start == end {
        format!("{word} {start}")
    } else {
        format!("{word} {start}-{end}")
    }
}

/// A prefix as `ip rule` prints it: a whole address without its length.
fn prefix(c: &Cidr) -> String {
    let full = if c.addr.is_ipv4() { 32 } else { 128 };
    if c.prefix == full {
        c.addr.to_string()
    } else {
        c.to_string()
    }
}

/// A table by the name `ip` gives it.
pub fn table_name(t: u32) -> String {
    match t {
        table::MAIN => "main".into(),
        table::LOCAL => "local".into(),
        table::DEFAULT => "default".into(),
        n => n.to_string(),
    }
}

/// The rule in the words `ip rule add` takes (`-6` first for an IPv6 rule, which `ip rule`
/// needs: it reads the family from `-6`, not from the addresses), the preference last:
/// `from 10.99.0.0/24 lookup 100 pref 10`.
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut w: Vec<String> = Vec::new();
        if self.v6 {
            w.push("-6".into());
        }
        if self.not {
            w.push("not".into());
        }
        w.push("from".into());
        w.push(self.from.as_ref().map_or_else(|| "all".into(), prefix));
        if let Some(t) = &self.to {
            w.push(format!("to {}", prefix(t)));
        }
        if self.tos != 0 {
            w.push(format!("tos 0x{:02x}", self.tos));
        }
        if let Some(m) = self.fwmark {
            match self.fwmask {
                Some(k) => w.push(format!("fwmark 0x{m:x}/0x{k:x}")),
                None => w.push(format!("fwmark 0x{m:x}")),
            }
        }
        if let Some(i) = &self.iif {
            w.push(format!("iif {i}"));
        }
        if let Some(o) = &self.oif {
            w.push(format!("oif {o}"));
        }
        w.extend(self.other.iter().cloned());
        if self.table != 0 {
            w.push(format!("lookup {}", table_name(self.table)));
        }
        match self.action {
            action::TO_TABLE => {}
            action::GOTO => w.push(format!("goto {}", self.goto.unwrap_or(0))),
            action::NOP => w.push("nop".into()),
            action::BLACKHOLE => w.push("blackhole".into()),
            action::UNREACHABLE => w.push("unreachable".into()),
            action::PROHIBIT => w.push("prohibit".into()),
            other => w.push(format!("type {other}")),
        }
        w.push(format!("pref {}", self.pref));
        f.write_str(&w.join(" "))
    }
}

/// Every rule of a namespace, IPv4 then IPv6, each with the message the kernel sent (what
/// deleting exactly that rule takes).
pub(super) async fn dump(h: &Handle, ns: &Ns) -> Result<Vec<(Rule, RuleMessage)>> {
    let mut out = Vec::new();
    for v in [IpVersion::V4, IpVersion::V6] {
        let msgs: Vec<RuleMessage> = h
            .rule()
            .get(v)
            .execute()
            .try_collect()
            .await
            .map_err(|e| KernelError::netlink(format!("dump the rules of {ns}"), e))?;
        out.extend(msgs.into_iter().map(|m| (Rule::of(&m), m)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_reads_as_ip_rule_add_takes_it() {
        let mut r = Rule {
            v6: false,
            pref: 10,
            not: false,
            from: Some("10.99.0.0/24".parse().unwrap()),
            to: None,
            tos: 0,
            fwmark: None,
            fwmask: None,
            iif: None,
            oif: None,
            action: action::TO_TABLE,
            table: 100,
            goto: None,
            other: vec![],
        };
        assert_eq!(r.to_string(), "from 10.99.0.0/24 lookup 100 pref 10");
        r.v6 = true;
        r.not = true;
        r.from = None;
        r.to = Some("2001:db8::1/128".parse().unwrap());
        r.fwmark = Some(16);
        r.fwmask = Some(0xff);
        r.iif = Some("lo".into());
        r.table = table::MAIN;
        assert_eq!(
            r.to_string(),
            "-6 not from all to 2001:db8::1 fwmark 0x10/0xff iif lo lookup main pref 10"
        );
        r.table = 0;
        r.action = action::BLACKHOLE;
        r.v6 = false;
        r.not = false;
        r.to = None;
        r.fwmark = None;
        r.iif = None;
        r.pref = 32000;
        assert_eq!(r.to_string(), "from all blackhole pref 32000");
    }
}
