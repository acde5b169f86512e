//! The grammar against iproute2's own behaviour: what it reads each form to do, who performs
//! it, and what it refuses with iproute2's words.

use super::ip::{AddrVerb, Brd, RouteVerb, rtn};
use super::*;

fn one(line: &str) -> (Ns, Op) {
    let c = parse(line).unwrap_or_else(|e| panic!("{line}: {}", e.message));
    assert_eq!(c.parts.len(), 1, "{line}: {:?}", c.parts);
    (c.parts[0].ns.clone(), c.parts[0].op.clone())
}

fn native(line: &str) -> (Ns, Op) {
    let c = parse(line).unwrap_or_else(|e| panic!("{line}: {}", e.message));
    assert_eq!(c.run, Run::Native, "{line}");
    (c.parts[0].ns.clone(), c.parts[0].op.clone())
}

fn real(line: &str) -> Command {
    let c = parse(line).unwrap_or_else(|e| panic!("{line}: {}", e.message));
    assert!(matches!(c.run, Run::Real { .. }), "{line}: {:?}", c.run);
    c
}

fn refused(line: &str) -> CommandError {
    match parse(line) {
        Err(e) => e,
        Ok(c) => panic!("{line} was accepted: {c:?}"),
    }
}

fn blue() -> Ns {
    Ns::Named("blue".into())
}

#[test]
fn the_workshop_forms_are_native() {
    assert_eq!(
        native("ip netns add blue"),
        (Ns::Root, Op::NetnsAdd("blue".into()))
    );
    assert_eq!(native("ip netns del blue").1, Op::NetnsDel("blue".into()));
    assert_eq!(
        native("ip netns delete blue").1,
        Op::NetnsDel("blue".into())
    );
    let Op::LinkAdd(l) = native("ip link add veth0 type veth peer name veth1").1 else {
        panic!()
    };
    assert_eq!(
        (l.attrs.link_name(), l.kind.as_str()),
        (Some("veth0"), "veth")
    );
    assert_eq!(l.peer.unwrap().link_name(), Some("veth1"));
    let (ns, Op::LinkSet(s)) = native("ip netns exec blue ip link set lo up") else {
        panic!()
    };
    assert_eq!((ns, s.dev(), s.attrs.up), (blue(), "lo", Some(true)));
    let (ns, Op::Addr(a)) = native("ip -n blue address add 10.1.0.2/24 dev veth0") else {
        panic!()
    };
    assert_eq!(ns, blue());
    assert_eq!(a.cidr().unwrap().to_string(), "10.1.0.2/24");
    let (ns, Op::Ping(p)) = native("ip netns exec blue ping -c 5 10.1.0.3") else {
        panic!()
    };
    assert_eq!((ns, p.count), (blue(), Some(5)));
    assert!(matches!(
        native("sysctl -w net.ipv4.ip_forward=1").1,
        Op::Sysctl(_)
    ));
}

#[test]
fn abbreviations_match_iproute2_by_prefix() {
    assert!(matches!(native("ip a a 10.0.0.1/24 dev x").1, Op::Addr(_)));
    assert!(matches!(native("ip l s x up").1, Op::LinkSet(_)));
    assert!(matches!(native("ip l del x").1, Op::LinkDel(_)));
    assert!(matches!(
        native("ip r a default via 10.0.0.1").1,
        Op::Route(_)
    ));
    assert!(matches!(
        native("ip ro add default via 10.0.0.1").1,
        Op::Route(_)
    ));
    // `n` is neighbour (it comes before netns in ip's table), `net` is netns.
    assert!(matches!(
        one("ip n add 10.0.0.2 lladdr 02:00:00:00:00:01 dev x").1,
        Op::Neigh(_)
    ));
    assert!(matches!(native("ip net add x").1, Op::NetnsAdd(_)));
    assert!(matches!(
        native("ip -netns blue link set x up").0,
        Ns::Named(_)
    ));
    assert!(matches!(
        native("ip --netns blue link set x up").0,
        Ns::Named(_)
    ));
    // `m` is master (matched by prefix in iplink_parse).
    let Op::LinkSet(s) = native("ip link set x m br0").1 else {
        panic!()
    };
    assert_eq!(s.attrs.master, Some(Some("br0".into())));
    let Op::LinkSet(s) = native("ip link set dev x nomaster").1 else {
        panic!()
    };
    assert_eq!(s.attrs.master, Some(None));
}

#[test]
fn every_form_of_a_link_is_read() {
    // netns before type: the main end is made in blue, the peer in red.
    let (ns, Op::LinkAdd(l)) =
        one("ip link add veth0 netns blue type veth peer name veth1 netns red")
    else {
        panic!()
    };
    assert_eq!(ns, Ns::Root);
    assert_eq!(l.attrs.netns.unwrap().ns(), Some(blue()));
    assert_eq!(
        l.peer.unwrap().netns.unwrap().ns(),
        Some(Ns::Named("red".into()))
    );
    // A veth whose peer the kernel names: iproute2 accepts it.
    let Op::LinkAdd(l) = one("ip link add veth0 type veth").1 else {
        panic!()
    };
    assert!(l.peer.is_none());
    let Op::LinkAdd(l) = one("ip link add veth0 type veth peer name veth1 mtu 1400").1 else {
        panic!()
    };
    assert_eq!(l.peer.unwrap().mtu, Some(1400));
    // Kinds nslab does not create itself go to the real ip, and are still read.
    let c = real("ip -n a link add vx0 type vxlan id 42 remote 192.168.100.2 dstport 4789 dev ua");
    assert!(matches!(&c.parts[0].op, Op::LinkAdd(l) if l.kind == "vxlan"));
    let c = real("ip link add link br0 name mv0 type macvlan mode bridge");
    assert!(
        matches!(&c.parts[0].op, Op::LinkAdd(l) if l.kind == "macvlan" && l.attrs.link_name() == Some("mv0"))
    );
    real("ip link add br0 type bridge stp_state 1");
    let Op::LinkDel(d) = native("ip link del br0 type bridge").1 else {
        panic!()
    };
    assert_eq!(d.kind.as_deref(), Some("bridge"));
    // Several changes in one line: one message, as iproute2 sends it.
    let Op::LinkSet(s) = native("ip -n blue link set veth1 name eth0 mtu 1400 up").1 else {
        panic!()
    };
    assert_eq!(
        (s.attrs.rename(), s.attrs.mtu, s.attrs.up),
        (Some("eth0"), Some(1400), Some(true))
    );
    // netns by pid: 1 is the root namespace.
    let Op::LinkSet(s) = native("ip link set veth0 netns 1").1 else {
        panic!()
    };
    assert_eq!(s.attrs.netns.unwrap().ns(), Some(Ns::Root));
}

#[test]
fn every_form_of_an_address_is_read() {
    let Op::Addr(a) = native("ip addr add 10.0.0.1/24 brd + dev veth0").1 else {
        panic!()
    };
    assert_eq!(a.brd, Some(Brd::Plus));
    let Op::Addr(a) =
        native("ip addr add dev veth0 10.0.0.1/24 broadcast 10.0.0.255 label veth0:1").1
    else {
        panic!()
    };
    assert_eq!(
        (a.dev.as_str(), a.label.as_deref()),
        ("veth0", Some("veth0:1"))
    );
    let Op::Addr(a) = native("ip addr add 10.0.0.1 peer 10.0.0.2/24 dev veth0").1 else {
        panic!()
    };
    assert_eq!(a.cidr().unwrap().to_string(), "10.0.0.1/24");
    let Op::Addr(a) = native("ip -6 addr add 2001:db8::1/64 dev veth0 nodad").1 else {
        panic!()
    };
    assert_eq!(a.flags, vec!["nodad".to_string()]);
    // nodad before the family is known is ignored, as iproute2 ignores it (with a warning).
    let Op::Addr(a) = native("ip addr add nodad 2001:db8::1/64 dev veth0").1 else {
        panic!()
    };
    assert!(a.flags.is_empty());
    let Op::Addr(a) = native("ip addr del 10.0.0.1/24 dev veth0").1 else {
        panic!()
    };
    assert_eq!(a.verb, AddrVerb::Del);
    // The wildcard delete (no prefix length) is the real ip's.
    real("ip addr del 10.0.0.1 dev veth0");
    assert!(matches!(one("ip addr flush dev veth0").1, Op::AddrFlush(_)));
}

#[test]
fn every_form_of_a_route_is_read() {
    let Op::Route(r) = native("ip route add blackhole 10.9.0.0/16").1 else {
        panic!()
    };
    assert_eq!(r.kind, Some(rtn::BLACKHOLE));
    let Op::Route(r) = native("ip route add 10.0.0.5 via 10.0.0.1").1 else {
        panic!()
    };
    assert_eq!(r.dest.len, 32);
    let Op::Route(r) =
        native("ip route replace default via 10.0.0.1 dev eth0 metric 100 table 10 proto static").1
    else {
        panic!()
    };
    assert_eq!(
        (r.verb, r.metric, r.table, r.proto),
        (RouteVerb::Replace, Some(100), Some(10), Some(4))
    );
    let Op::Route(r) = native("ip route add 2001:db8:2::/64 via 2001:db8:1::1").1 else {
        panic!()
    };
    assert!(r.is_v6());
    native("ip route append 10.0.2.0/24 dev eth0 onlink");
    native("ip route del 10.0.2.0/24");
    real("ip route add 10.0.2.0/24 via 10.0.0.1 mtu lock 1400");
    real("ip route add default nexthop via 10.0.0.1 weight 1");
}

#[test]
fn the_real_program_runs_what_nslab_does_not_copy() {
    for line in [
        "ip -br a",
        "ip link show",
        "lsns -t net",
        "ls -l /proc/$$/ns",
        "iptables -t nat -A POSTROUTING -s 10.1.0.0/24 -j MASQUERADE",
        "ip netns exec blue bash -c 'echo hi'",
        "ping example.org",
        "ip -n blue -batch /tmp/cmds",
        "ip neigh add 10.0.0.2 lladdr 02:00:00:00:00:01 dev x",
        "bridge fdb add 02:00:00:00:00:01 dev x master",
        "ping -s 100 -c 1 10.0.0.1",
        "ip netns exec blue ip link set lo up && echo ok",
    ] {
        real(line);
    }
}

#[test]
fn what_a_line_does_is_read_through_wrappers() {
    let c = real("strace -e trace=unshare,mount,setns ip netns add demo");
    assert_eq!(c.parts[0].op, Op::NetnsAdd("demo".into()));
    let c = real("ip netns exec blue bash -c 'ip link set lo up; ip addr add 10.0.0.1/8 dev lo'");
    assert_eq!(c.parts.len(), 2);
    assert!(c.parts.iter().all(|p| p.ns == blue()));
    let c = real("nsenter --net=/run/netns/blue ip link set lo up");
    assert_eq!(c.parts[0].ns, blue());
    let c = real("mount --bind /proc/$(pgrep -n netns-demo)/ns/net /run/netns/keep");
    assert_eq!(c.parts[0].op, Op::BindNetns("keep".into()));
    let c = real("/tmp/netns-demo 120 &");
    assert_eq!(c.parts[0].op, Op::Start("netns-demo".into()));
    // Every named namespace goes: the real ip does it, and settle knows what it owes.
    assert_eq!(real("ip -all netns delete").parts[0].op, Op::NetnsDelAll);
    assert_eq!(real("ip -a netns del").parts[0].op, Op::NetnsDelAll);
    // What `ip netns exec` leaves running is its program, not ip.
    let c = real("ip netns exec blue sleep 30 &");
    assert_eq!(c.parts[0].op, Op::Start("sleep".into()));
    assert_eq!(c.parts[0].ns, blue());
    let c = real("ip net e blue python3 -m http.server 80 > /dev/null 2>&1 &");
    assert_eq!(c.parts[0].op, Op::Start("python3".into()));
    // A shell it runs may leave anything running: not named.
    let c = real("ip netns exec blue sh -c 'sleep 30' &");
    assert!(c.parts.iter().all(|p| !matches!(p.op, Op::Start(_))));
    let c = real("echo 1 > /proc/sys/net/ipv4/ip_forward");
    assert_eq!(
        c.parts[0].op,
        Op::Sysctl(Sysctl::by_shell("net/ipv4/ip_forward", "1".into()))
    );
    // A link's own file: the '.' of its name is no separator.
    let Op::Sysctl(s) = real("echo 1 > /proc/sys/net/ipv4/conf/veth0.5/forwarding").parts[0]
        .op
        .clone()
    else {
        panic!()
    };
    assert_eq!(s.writes[0].0, "net.ipv4.conf.veth0/5.forwarding");
    // Standard error goes there, not echo's output.
    assert!(!matches!(
        real("echo 1 2> /proc/sys/net/ipv4/ip_forward").parts[0].op,
        Op::Sysctl(_)
    ));
    let c = real("pkill -x netns-demo");
    assert_eq!(c.parts[0].op, Op::Kill("netns-demo".into()));
    assert!(matches!(
        real("ip -n blue -batch /tmp/cmds").parts[0].op,
        Op::Unknown { .. }
    ));
}

#[test]
fn observations_are_recognised() {
    for line in [
        "ip link show",
        "ip -n blue a",
        "ip a",
        "lsns -t net",
        "ip netns list",
        "bridge fdb show br bridge0",
        "ip route get 10.0.0.1",
        "sysctl net.ipv4.ip_forward",
        "curl -sS -m 3 -o /dev/null -w '%{http_code}' http://10.0.0.1/",
        "wget -qO- http://10.0.0.1/",
        "wget -O - http://10.0.0.1/",
        "wget --spider http://10.0.0.1/",
        "sort /tmp/a",
        "sed s/a/b/ /tmp/f",
        "tcpdump -c 1 -i lo",
        "conntrack -L",
        "bridge fdb show",
        "echo b | tee /dev/null",
        "ip link show 2>&1",
    ] {
        assert!(parse(line).unwrap().observes(), "{line}");
    }
    // What a check may see: files made, written, removed; ids and tables changed.
    for line in [
        "ip link set x up",
        "ip netns add x",
        "iptables -A INPUT -j DROP",
        "echo 1 > /proc/sys/net/ipv4/ip_forward",
        "ping -c 1 10.0.0.1",
        "rm -f /tmp/x",
        "mkdir /tmp/d",
        "cp /etc/hostname /tmp/h",
        "mv /tmp/a /tmp/b",
        "ln -s /tmp/a /tmp/c",
        "chmod 600 /tmp/a",
        "tee /tmp/a",
        "modprobe dummy",
        "echo hi > /tmp/hi",
        "echo hi &> /tmp/hi",
        "ip link show 2> /tmp/err",
        "nslab example netns-demo > /tmp/netns-demo.c",
        "curl -s http://10.0.0.1/ -o /tmp/page",
        "curl -sSo /tmp/page http://10.0.0.1/",
        "curl -O http://10.0.0.1/index.html",
        "wget http://10.0.0.1/",
        "wget -O /tmp/page http://10.0.0.1/",
        "sed -i s/a/b/ /tmp/f",
        "sort -o /tmp/a /tmp/a",
        "tcpdump -c 1 -w /tmp/c.pcap -i lo",
        "conntrack -F",
        "conntrack -D -p icmp",
        "ip netns set blue 5",
        "bridge fdb flush dev port0",
        "ip netns exec blue rm -f /tmp/x",
    ] {
        assert!(!parse(line).unwrap().observes(), "{line}");
    }
}

#[test]
fn refusals_are_iproute2s_own_and_point_at_the_word() {
    let e = refused("ip addr add 10.1.0.300/24 dev veth0");
    assert_eq!(e.offset, 12);
    assert_eq!(
        e.message,
        "Error: any valid prefix is expected rather than \"10.1.0.300/24\"."
    );
    let e = refused("ip addr add 10.1.0.2/24");
    assert!(
        e.message.contains("\"dev\" argument is required"),
        "{}",
        e.message
    );
    let e = refused("ip netns exec blue");
    assert_eq!(e.message, "No command specified");
    let e = refused("ip link add veth0");
    assert_eq!(
        e.message,
        "Not enough information: \"type\" argument is required"
    );
    let e = refused("ip link set veth0 upp");
    assert_eq!(
        e.message,
        "Error: either \"dev\" is duplicate, or \"upp\" is a garbage."
    );
    let e = refused("ip link set veth0 mtu big");
    assert_eq!(
        e.message,
        "Error: argument \"big\" is wrong: Invalid \"mtu\" value\n"
    );
    let e = refused("ip lnik show");
    assert_eq!(e.message, "Object \"lnik\" is unknown, try \"ip help\".");
    let e = refused("ip -x link");
    assert!(e.message.starts_with("Option \"-x\" is unknown"));
    let e = refused("ip netns add a/b");
    assert_eq!(e.message, "Invalid netns name \"a/b\"");
    let e = refused("ping -c x 10.0.0.1");
    assert_eq!(e.offset, 5);
    assert_eq!(e.message, "ping: invalid argument: 'x'");
    let e = refused("ip link add veth0 type veth nonsense");
    assert!(e.message.starts_with("Usage: ip link"));
    let e = refused("ip route add");
    assert!(e.message.contains("destination"), "{}", e.message);
    // A link named like a keyword's abbreviation: ip's words, then what it read, and the fix.
    let e = refused("ip link add br type bridge");
    assert_eq!(e.offset, 15);
    assert_eq!(
        e.message,
        "\"type\" is invalid lladdr. (ip reads \"br\" as \"broadcast\": to name the link \"br\", \
         write \"name br\")"
    );
    let e = refused("ip link add brd zz");
    assert_eq!(e.message, "\"zz\" is invalid lladdr.");
    assert!(parse("ip link add name br type bridge").is_ok());
    let e = refused("ip link set d up");
    assert!(
        e.message.starts_with(
            "Error: argument of \"dynamic\" must be \"on\" or \"off\", not \"up\" (ip reads \"d\""
        ),
        "{}",
        e.message
    );
    assert!(e.message.ends_with("write \"dev d\")"), "{}", e.message);
    assert!(parse("ip link set dev d up").is_ok());
    // In `set`, the link is named with `dev` (`name` would read as a rename).
    let e = refused("ip link set a up");
    assert!(
        e.message
            .ends_with("to name the link \"a\", write \"dev a\")"),
        "{}",
        e.message
    );
    assert!(parse("ip link set x0 dynamic on").is_ok());
    // What iproute2 accepts is never refused.
    for ok in [
        "ip netns add blue extra",
        "ip link add veth0 type veth",
        "ip route add 10.0.0.5/24 via 10.0.0.1",
        "ping -W abc 10.0.0.1",
    ] {
        assert!(parse(ok).is_ok(), "{ok}");
    }
    // A long abbreviation of the keyword is the keyword, meant: no hint about a link's name.
    assert_eq!(
        refused("ip link set v1 addr zz").message,
        "\"zz\" is invalid lladdr."
    );
}

#[test]
fn ip_rule_is_read_as_iprule_c_reads_it() {
    use super::ip::{RuleChange, rule_action};
    let rule = |line: &str| match real(line).parts[0].op.clone() {
        Op::Rule(r) => r,
        other => panic!("{line}: {other:?}"),
    };
    let r = rule("ip rule add from 10.99.0.0/24 lookup 100 pref 10");
    assert_eq!(
        r,
        RuleChange {
            add: true,
            v6: false,
            not: false,
            from: Some("10.99.0.0/24".parse().unwrap()),
            to: None,
            fwmark: None,
            fwmask: None,
            iif: None,
            oif: None,
            table: Some(100),
            pref: Some(10),
            action: None,
            goto: None,
        }
    );
    assert_eq!(
        (r.stored_table(), r.stored_action()),
        (100, rule_action::TO_TABLE)
    );
    // Prefixes of keywords, as iproute2 takes them; `-6`; the kernel keeps host bits.
    let r =
        rule("ip -6 ru a not to 2001:db8::5/64 iif lo oif lo fwmark 0x10/0xff prio 7 table main");
    assert!(r.v6 && r.not && r.add);
    assert_eq!(r.to, Some("2001:db8::5/64".parse().unwrap()));
    assert_eq!((r.fwmark, r.fwmask), (Some(16), Some(255)));
    assert_eq!(
        (r.iif.as_deref(), r.oif.as_deref()),
        (Some("lo"), Some("lo"))
    );
    assert_eq!((r.pref, r.stored_table()), (Some(7), 254));
    // No table written: main; `from all` is no selector.
    let r = rule("ip rule add from all order 5");
    assert_eq!((r.from, r.stored_table(), r.pref), (None, 254, Some(5)));
    // Actions other than a lookup.
    assert_eq!(rule("ip rule add blackhole").stored_table(), 0);
    assert_eq!(
        rule("ip rule add type unreachable").action,
        Some(rtn::UNREACHABLE)
    );
    assert_eq!(
        rule("ip rule add pref 9 prohibit").action,
        Some(rtn::PROHIBIT)
    );
    assert_eq!(rule("ip rule add nop").action, Some(rule_action::NOP));
    let g = rule("ip rule add goto 32766 pref 3");
    assert_eq!((g.action, g.goto), (Some(rule_action::GOTO), Some(32766)));
    assert_eq!(rule("ip rule add unicast lookup 5").action, None);
    // A delete names what it matches on.
    let d = rule("ip rule del from 10.99.0.0/24");
    assert!(!d.add);
    assert!(d.deletes(&rule("ip rule add from 10.99.0.0/24 lookup 100 pref 10")));
    assert!(!d.deletes(&rule("ip rule add from 10.98.0.0/24 lookup 100 pref 10")));
    assert!(!rule("ip rule del pref 11").deletes(&rule("ip rule add lookup 5 pref 10")));
    assert!(!rule("ip -6 rule del pref 10").deletes(&rule("ip rule add lookup 5 pref 10")));
    // A mark without a mask names the mask all ones (the kernel's rule_find; corpus cases
    // "rule del fwmark without the mask it was added with", "rule del fwmark 0").
    let masked = rule("ip rule add fwmark 0x10/0xff lookup 5 pref 10");
    assert!(!rule("ip rule del fwmark 0x10").deletes(&masked));
    assert!(rule("ip rule del fwmark 0x10/0xff").deletes(&masked));
    let unmasked = rule("ip rule add fwmark 7 lookup 7 pref 10");
    assert!(rule("ip rule del fwmark 7").deletes(&unmasked));
    assert!(rule("ip rule del fwmark 7/0xffffffff").deletes(&unmasked));
    assert!(!rule("ip rule del fwmark 7/0xff").deletes(&unmasked));
    // A mark of 0 names no mark: the first rule of the family goes.
    assert!(rule("ip rule del fwmark 0").deletes(&unmasked));
    // Read-only forms observe; the rest of ip rule goes to the real ip, unmodelled.
    for line in [
        "ip rule",
        "ip rule show",
        "ip -6 ru l",
        "ip rule save",
        "ip rule help",
    ] {
        assert_eq!(one(line).1, Op::Observe, "{line}");
    }
    for line in [
        "ip rule flush",
        "ip rule add from 10.0.0.0/8 ipproto tcp lookup 5",
        "ip rule add tos 0x10 lookup 5",
        "ip rule add uidrange 0-10 lookup 5",
        "ip rule add l3mdev",
        "ip rule add lookup mytable",
        "ip rule add local",
        // A lookup in table 0: the kernel picks an empty table (`lookup 1`), not main.
        "ip rule add from 10.0.0.0/8 unicast",
        "ip rule add from 10.0.0.0/8 type unicast pref 50",
        "ip rule add from 10.0.0.0/8 table 0",
        "ip rule add from 10.0.0.0/8 lookup unspec",
    ] {
        assert!(matches!(one(line).1, Op::Unknown { .. }), "{line}");
    }
    // A table written with the type, or a delete, is still modelled.
    assert_eq!(
        rule("ip rule add to 10.3.0.0/16 table 5 unicast").stored_table(),
        5
    );
    assert!(!rule("ip rule del from 10.0.0.0/8 unicast").add);
    // What ip rule refuses, with its words.
    for (line, message) in [
        ("ip rule add", "\"ip rule add\" requires arguments."),
        ("ip rule del", "\"ip rule del\" requires arguments."),
        (
            "ip rule frob",
            "Command \"frob\" is unknown, try \"ip rule help\".",
        ),
        (
            "ip rule add from 10.1.0.300/24 lookup 5",
            "Error: any valid prefix is expected rather than \"10.1.0.300/24\".",
        ),
        (
            "ip -6 rule add from 10.0.0.0/8 lookup 5",
            "Error: inet6 prefix is expected rather than \"10.0.0.0/8\".",
        ),
        (
            "ip rule add pref x lookup 5",
            "Error: argument \"x\" is wrong: preference value is invalid\n",
        ),
        (
            "ip rule add fwmark zz lookup 5",
            "Error: argument \"zz\" is wrong: fwmark value is invalid\n",
        ),
        (
            "ip rule add fwmark 1/zz lookup 5",
            "Error: argument \"zz\" is wrong: fwmask value is invalid\n",
        ),
        (
            "ip rule add bogus",
            "Error: argument \"bogus\" is wrong: Failed to parse rule type",
        ),
        (
            "ip rule add iif a/b lookup 5",
            "Error: argument \"a/b\" is wrong: \"iif\"/\"dev\" not a valid ifname",
        ),
    ] {
        assert_eq!(refused(line).message, message, "{line}");
    }
}

#[test]
fn listings_that_only_the_kernel_state_decides() {
    use super::ip::{Listed, Listing};
    let list = |what, dev: Option<&str>| {
        Op::List(Listing {
            what,
            dev: dev.map(str::to_string),
        })
    };
    for (line, ns, op) in [
        ("ip link show", Ns::Root, list(Listed::Link, None)),
        ("ip l", Ns::Root, list(Listed::Link, None)),
        (
            "ip -n red link",
            Ns::Named("red".into()),
            list(Listed::Link, None),
        ),
        ("ip link show type veth", Ns::Root, list(Listed::Link, None)),
        (
            "ip -br link show dev veth0 up",
            Ns::Root,
            list(Listed::Link, Some("veth0")),
        ),
        (
            "ip link ls veth0",
            Ns::Root,
            list(Listed::Link, Some("veth0")),
        ),
        ("ip -j -p addr", Ns::Root, list(Listed::Address, None)),
        (
            "ip netns exec blue ip a s dev veth0",
            blue(),
            list(Listed::Address, Some("veth0")),
        ),
        ("ip -n blue neigh", blue(), list(Listed::Neighbour, None)),
        (
            "ip neigh show dev veth0",
            Ns::Root,
            list(Listed::Neighbour, Some("veth0")),
        ),
        ("ip -6 route", Ns::Root, list(Listed::Route, None)),
        (
            "ip r s dev veth0",
            Ns::Root,
            list(Listed::Route, Some("veth0")),
        ),
        ("ip netns list", Ns::Root, list(Listed::Netns, None)),
        ("ip netns", Ns::Root, list(Listed::Netns, None)),
    ] {
        assert_eq!(one(line), (ns, op), "{line}");
        assert!(real(line).listing().is_some(), "{line}");
    }
    // Filters whose outcome is not the device's existence alone, a second device (ip refuses
    // it), `help`, other verbs: the real ip answers, as any other observation.
    for line in [
        "ip link show master br0",
        "ip link show dev a dev b",
        "ip link show a b",
        "ip link show h",
        "ip addr show to 10.0.0.0/8",
        "ip addr show tentative",
        "ip addr show lo:1",
        "ip -n a addr show dev v0:web",
        "ip route show dev lo:1",
        "ip addr show if1",
        "ip neigh show dev if12",
        "ip route show dev longaltname0123456789",
        "ip -n b -n a link",
        "ip -n /run/netns/a link",
        "ip addr show dev veth0 noprefixroute",
        "ip addr save",
        "ip route show table main",
        "ip route get 10.0.0.1",
        "ip neigh show nud permanent",
        "ip neigh get 10.0.0.1 dev veth0",
        "ip netns list-id",
        "ip netns pids blue",
        "ip -f help link",
    ] {
        assert_eq!(one(line).1, Op::Observe, "{line}");
    }
    // Not a line of its own: in a pipe, redirected, behind &&, under another program.
    for line in [
        "ip link show | grep veth",
        "ip link show > /dev/null",
        "ip netns add x && ip link show",
        "sudo ip link show",
        "timeout 5 ip link show",
    ] {
        let c = real(line);
        assert!(c.listing().is_none(), "{line}: {:?}", c.parts);
        assert!(
            c.parts.iter().all(|p| !matches!(p.op, Op::List(_))),
            "{line}: {:?}",
            c.parts
        );
    }
}

/// What follows `type bridge` is the bridge's own options: a link's option there (`mtu`,
/// `address`) is refused as ip refuses it, where it stands; before `type`, it is the link's.
#[test]
fn a_links_own_option_after_type_bridge_is_refused_as_ip_refuses_it() {
    for (line, word) in [
        ("ip link add br0 type bridge mtu 1400", "mtu"),
        ("ip link add br0 type bridge stp_state 1 mtu 9000", "mtu"),
        (
            "ip link add br0 type bridge fdb_flush address 02:00:00:00:00:01",
            "address",
        ),
    ] {
        let e = refused(line);
        assert!(
            e.message
                .starts_with(&format!("bridge: unknown command \"{word}\"?")),
            "{line}: {e:?}"
        );
        assert_eq!(&line[e.offset..e.offset + word.len()], word, "{line}");
    }
    assert!(matches!(
        one("ip link add br0 mtu 1400 type bridge stp_state 1").1,
        Op::LinkAdd(_)
    ));
}

fn sysctl_of(line: &str) -> Sysctl {
    match one(line).1 {
        Op::Sysctl(s) => s,
        other => panic!("{line}: {other:?}"),
    }
}

/// procps 4.0.2's sysctl.c: both spellings of a key, and the options it reads (measured with
/// the real sysctl: see the sysctl cases of tests/iproute2/corpus.txt).
#[test]
fn sysctl_reads_its_command_line_as_procps_does() {
    // A dot in a link's name: '/' in the dotted form, as it is in the path form.
    for line in [
        "sysctl -w net.ipv4.conf.veth0/5.forwarding=1",
        "sysctl -w net/ipv4/conf/veth0.5/forwarding=1",
    ] {
        let (_, Op::Sysctl(s)) = native(line) else {
            panic!("{line}")
        };
        assert_eq!(
            s.writes,
            vec![("net.ipv4.conf.veth0/5.forwarding".into(), "1".into())],
            "{line}"
        );
        assert_eq!(
            s.printed(&s.writes[0].0, "1"),
            "net.ipv4.conf.veth0/5.forwarding = 1\n"
        );
    }
    // -e, in any of its spellings, and options grouped or after the keys (getopt permutes).
    for line in [
        "sysctl -e -w net.ipv4.nosuch=1",
        "sysctl -ew net.ipv4.nosuch=1",
        "sysctl -w net.ipv4.nosuch=1 --ignore",
        "sysctl --ign -w net.ipv4.nosuch=1",
    ] {
        let (_, Op::Sysctl(s)) = native(line) else {
            panic!("{line}")
        };
        assert!(
            matches!(
                s.by,
                SysctlBy::Procps {
                    ignore_unknown: true,
                    ..
                }
            ),
            "{line}"
        );
    }
    let s = sysctl_of("sysctl -w net.ipv4.nosuch=1");
    assert!(matches!(
        s.by,
        SysctlBy::Procps {
            ignore_unknown: false,
            print: SysctlPrint::KeyValue
        }
    ));
    for (line, print) in [
        ("sysctl -qw net.ipv4.ip_forward=1", SysctlPrint::Nothing),
        ("sysctl -n -w net.ipv4.ip_forward=1", SysctlPrint::Value),
        ("sysctl -b -w net.ipv4.ip_forward=1", SysctlPrint::Raw),
        ("sysctl --values net.ipv4.ip_forward=1", SysctlPrint::Value),
    ] {
        let SysctlBy::Procps { print: p, .. } = sysctl_of(line).by else {
            panic!("{line}")
        };
        assert_eq!(p, print, "{line}");
    }
    // Blanks around the key and the value go, as parse_setting_line strips them.
    assert_eq!(
        sysctl_of("sysctl -w ' net.ipv4.ip_forward = 1 '").writes,
        vec![("net.ipv4.ip_forward".into(), "1".into())]
    );
    // Lines that write nothing: every key shown, a dry run, a version, -N with -q.
    for line in [
        "sysctl -a -w net.ipv4.ip_forward=1",
        "sysctl --dry-run -w net.ipv4.ip_forward=1",
        "sysctl -V -w net.ipv4.ip_forward=1",
        "sysctl -N -q -w net.ipv4.ip_forward=1",
    ] {
        assert_eq!(one(line).1, Op::Observe, "{line}");
    }
    // What nslab does not copy goes to the real sysctl, and the model does not guess.
    for line in [
        "sysctl -r forward -w net.ipv4.ip_forward=1",
        "sysctl -p/etc/x.conf -w net.ipv4.ip_forward=1",
        "sysctl --d -w net.ipv4.ip_forward=1",
        "sysctl -Z -w net.ipv4.ip_forward=1",
        "sysctl -w net.ipv4..ip_forward=1",
        "sysctl -w net.ipv4.conf.*.forwarding=1",
        "sysctl -w -- -net.ipv4.ip_forward=1",
        "sysctl --write=1 net.ipv4.ip_forward=1",
    ] {
        assert!(
            matches!(real(line).parts[0].op, Op::Unknown { .. }),
            "{line}"
        );
    }
    // After `--`, -w is a key to read, not an option.
    assert!(matches!(
        parse("sysctl -- -w").map(|c| c.parts[0].op.clone()),
        Ok(Op::Observe)
    ));
    // A key read besides the ones written: the real sysctl runs it, the model knows the write.
    let c = real("sysctl net.ipv4.ip_forward net.ipv4.conf.all.forwarding=1");
    let Op::Sysctl(s) = &c.parts[0].op else {
        panic!()
    };
    assert_eq!(s.writes[0].0, "net.ipv4.conf.all.forwarding");
}

/// `-0`, `-M`, `-B` and `-family link|mpls|bridge` are ip's AF_PACKET, AF_MPLS and AF_BRIDGE
/// (ip 6.1, measured): ip refuses an inet prefix under them, and the kernel reads some
/// requests otherwise (`ip -B link del X` leaves X). The real ip runs such a line; the last
/// family option wins; `-family packet` is no family of ip's.
#[test]
fn the_other_families_are_the_real_ips() {
    for line in [
        "ip -0 addr add 10.0.0.1/24 dev veth0",
        "ip -M route add 10.5.0.0/16 dev veth0",
        "ip -B link del veth0",
        "ip -n blue -B link set veth0 master br0 up",
        "ip -f link link set veth0 mtu 1400",
        "ip -family bridge addr del 10.0.0.1/24 dev veth0",
        "ip -f mpls neigh add 10.0.0.9 lladdr 02:00:00:00:00:09 dev veth0",
        "ip -4 -0 addr add 10.0.0.1/24 dev veth0",
    ] {
        let c = real(line);
        assert!(
            matches!(&c.parts[0].op, Op::Unknown { network: true, .. }),
            "{line}: {:?}",
            c.parts[0].op
        );
    }
    assert_eq!(one("ip -0 addr show dev veth0").1, Op::Observe);
    assert_eq!(one("ip -B netns add blue").1, Op::NetnsAdd("blue".into()));
    native("ip -0 -4 addr add 10.0.0.1/24 dev veth0");
    native("ip -M -f inet6 route add 2001:db8::/64 dev veth0");
    assert_eq!(
        refused("ip -f packet link set veth0 up").message,
        "Error: argument \"packet\" is wrong: invalid protocol family"
    );
}

/// `ip netns set NAME NSID` as ip 6.1 reads it (measured): `auto` or a non-negative int in C's
/// notations; refused in ip's words otherwise.
#[test]
fn netns_set_takes_an_nsid_as_ip_does() {
    for line in [
        "ip netns set x 0",
        "ip netns set x 0x10",
        "ip netns set x 010",
        "ip netns set x auto",
    ] {
        real(line);
    }
    for (line, message) in [
        ("ip netns set", "No netns name specified"),
        ("ip netns set x", "No nsid specified"),
        (
            "ip netns set x abc",
            "Error: argument \"abc\" is wrong: Invalid \"netnsid\" value",
        ),
        (
            "ip netns set x 2147483648",
            "Error: argument \"2147483648\" is wrong: Invalid \"netnsid\" value",
        ),
        (
            "ip netns set x -0x2",
            "Error: argument \"-0x2\" is wrong: \"netnsid\" value should be >= 0",
        ),
    ] {
        assert_eq!(refused(line).message, message, "{line}");
    }
}

#[test]
fn link_numbers_are_read_as_iplink_parse_reads_them() {
    // `index` is atoi's: digits then anything, in base 10; 0 or less is refused.
    for ok in [
        "ip link add veth5 index 77abc type veth peer name veth6",
        "ip link add veth5 index +7 type veth peer name veth6",
        "ip link add veth5 index 010 type veth peer name veth6",
    ] {
        real(ok);
    }
    for bad in [
        "ip link add veth5 index 0x10 type veth peer name veth6",
        "ip link add veth5 index abc type veth peer name veth6",
        "ip link add veth5 index -3 type veth peer name veth6",
    ] {
        assert!(
            refused(bad).message.contains("Invalid \"index\" value"),
            "{bad}"
        );
    }
    assert_eq!(super::ipaddr::atoi("99999999999999999999"), -1);
    assert_eq!(super::ipaddr::atoi("-99999999999999999999"), 0);
    assert_eq!(super::ipaddr::atoi("4294967301"), 5);
    // `mtu` is a C int whose bits ip sends: a negative one is the kernel's to refuse.
    let (_, op) = native("ip link set veth0 mtu -1");
    let Op::LinkSet(l) = op else { panic!("{op:?}") };
    assert_eq!(l.attrs.mtu, Some(u32::MAX));
}

#[test]
fn bridge_reads_its_family_option_with_its_value() {
    // bridge.c: `-f`/`-family` takes the next word; the object comes after it.
    for line in [
        "bridge -f inet fdb add 02:00:00:00:00:01 dev x master",
        "bridge -family inet6 fdb add 02:00:00:00:00:01 dev x master",
        "bridge -n blue -f inet fdb add 02:00:00:00:00:01 dev x master",
    ] {
        let c = real(line);
        assert!(
            matches!(&c.parts[0].op, Op::Fdb(f) if f.add && f.master && f.dev == "x"),
            "{line}: {:?}",
            c.parts[0].op
        );
    }
    // `master` by a prefix, as fdb.c reads it.
    let c = real("bridge fdb add 02:00:00:00:00:01 dev x mas");
    assert!(matches!(&c.parts[0].op, Op::Fdb(f) if f.master));
    let c = real("bridge -f inet link set dev x cost 5");
    assert!(matches!(&c.parts[0].op, Op::BridgePort { dev } if dev == "x"));
}

#[test]
fn neigh_lladdr_null_sends_no_address() {
    // ipneigh_modify leaves NDA_LLADDR out for `lladdr null`: ip 6.1 takes these lines.
    for line in [
        "ip neigh del 10.1.0.9 lladdr null dev veth0",
        "ip neigh add 10.1.0.7 lladdr null dev veth0 nud none",
        "ip neigh replace 10.1.0.6 lla null dev veth0 nud failed",
    ] {
        let c = real(line);
        assert!(
            matches!(&c.parts[0].op, Op::Neigh(n) if n.lladdr.is_none() && n.dev == "veth0"),
            "{line}: {:?}",
            c.parts[0].op
        );
    }
    // Given twice, null or not, it is a duplicate.
    assert!(
        refused("ip neigh add 10.1.0.7 lladdr null lladdr 02:00:00:00:00:01 dev veth0")
            .message
            .contains("duplicate \"lladdr\"")
    );
}

/// iputils takes an IPv6 address with its zone (`fe80::1%veth0`) as the address, reached
/// through that interface (getaddrinfo reads the zone): a ping to it, over IPv6, not to a host
/// name. An IPv4 address takes no zone, and stays a name for the real ping to resolve.
#[test]
fn a_ping_of_a_zoned_ipv6_address_is_a_ping_of_the_address() {
    for (line, ns, zone) in [
        ("ip netns exec a ping -6 -c 1 fe80::1%veth0", "a", "veth0"),
        ("ip netns exec a ping -c 1 -W 1 fe80::2%s1", "a", "s1"),
        ("ping6 fe80::2%2", "", "2"),
    ] {
        let (n, op) = one(line);
        let Op::Ping(p) = op else {
            panic!("{line}: {op:?}")
        };
        assert!(p.addr.is_ipv6(), "{line}");
        assert_eq!(p.zone.as_deref(), Some(zone), "{line}");
        assert!(!p.native, "{line}");
        if !ns.is_empty() {
            assert_eq!(n, Ns::Named(ns.into()), "{line}");
        }
    }
    assert!(matches!(
        one("ping -c 1 10.0.0.1%eth0").1,
        Op::Unknown { .. }
    ));
    assert!(matches!(one("ping -c 1 fe80::1%").1, Op::Unknown { .. }));
}
