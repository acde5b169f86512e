//! The engine every mode shares: perform a step's commands, evaluate its checks, keep the
//! ledger. Verify, demo and learn are policies over it (when to evaluate, who performs).

pub mod eval;
pub mod ledger;

use std::time::{Duration, Instant};

use crate::kernel::{Kernel, KernelError, PingOutcome};
use crate::lesson::{CheckLine, Command, CommandLine, Ns, Op};
pub use eval::{Outcome, Round};
use ledger::{Entry, Ledger, ns_ref};

/// How long checks may take to come true after the commands: a deleted namespace is torn down by
/// a kernel worker, and its veth pair with it (about 14 ms on a quiet machine, several hundred on a
/// busy one).
pub const SETTLE: Duration = Duration::from_millis(1000);

/// How long a shell line may run before nslab gives up on it.
pub const SHELL_TIMEOUT: Duration = Duration::from_secs(60);

/// How commands are paced: verify runs flat out; demo keeps ping's rhythm for the audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    Fast,
    Real,
}

/// What performing one command line gave.
#[derive(Debug, Clone)]
pub struct Performed {
    pub ok: bool,
    /// What the command printed (ping's replies, a shell line's output).
    pub output: String,
    /// On failure, the error in iproute2's voice: `ip link set dev veth0 netns blue: ...`.
    pub error: Option<String>,
    pub duration: Duration,
}

pub struct Engine {
    pub kernel: Kernel,
    pub ledger: Ledger,
    pub pace: Pace,
}

impl Engine {
    pub fn new(kernel: Kernel, pace: Pace) -> Self {
        Engine {
            kernel,
            ledger: Ledger::default(),
            pace,
        }
    }

    /// Evaluates checks in one round (each namespace dumped at most once).
    pub fn evaluate(&self, checks: &[CheckLine]) -> Vec<Outcome> {
        self.evaluate_with(checks, eval::PING_CHECK_TIMEOUT)
    }

    /// The same, with pings waiting at most `ping_timeout` (learn polls with a short wait: a
    /// veth answers in well under a millisecond). The round's pings go out all at once.
    pub fn evaluate_with(&self, checks: &[CheckLine], ping_timeout: Duration) -> Vec<Outcome> {
        let mut round = Round::new(&self.kernel).ping_timeout(ping_timeout);
        round.prefetch(checks.iter().map(|c| &c.check));
        checks.iter().map(|c| round.eval(&c.check)).collect()
    }

    /// Evaluates checks after a step's commands, waiting up to [`SETTLE`] for failing ones to
    /// come true; the last evaluation is the verdict.
    pub fn settle(&self, checks: &[CheckLine]) -> Vec<Outcome> {
        let deadline = Instant::now() + SETTLE;
        loop {
            let outcomes = self.evaluate(checks);
            if outcomes.iter().all(|o| o.pass) || Instant::now() >= deadline {
                return outcomes;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Performs one command line: natively where nslab understands it, else through /bin/sh.
    pub fn perform(&mut self, line: &CommandLine) -> Performed {
        let start = Instant::now();
        let (ok, output, error) = match &line.command {
            Command::Native { ns, op } => match self.native(ns, op) {
                Ok((ok, out)) => (ok, out, None),
                Err(e) => (false, String::new(), Some(format!("{}: {e}", line.text))),
            },
            Command::Shell { ns, line: sh } => match self.kernel.shell(ns, sh, SHELL_TIMEOUT) {
                Ok(o) => {
                    let mut out = o.stdout.clone();
                    out.push_str(&o.stderr);
                    let dropped = o.dropped_note();
                    if let Some(d) = &dropped {
                        out.push_str(&format!("\n[{d}]\n"));
                    }
                    let err = (!o.success()).then(|| {
                        let d = dropped
                            .as_ref()
                            .map(|d| format!(" ({d})"))
                            .unwrap_or_default();
                        if o.timed_out {
                            format!(
                                "{}: still running after {} s; nslab stopped it{d}",
                                line.text,
                                o.limit.as_secs_f64()
                            )
                        } else {
                            let why = o.stderr.lines().last().unwrap_or("").trim();
                            format!(
                                "{}: exited with status {}{}{d}",
                                line.text,
                                o.status.unwrap_or(-1),
                                if why.is_empty() {
                                    String::new()
                                } else {
                                    format!(": {why}")
                                }
                            )
                        }
                    });
                    (o.success(), out, err)
                }
                Err(e) => (false, String::new(), Some(format!("{}: {e}", line.text))),
            },
        };
        Performed {
            ok,
            output,
            error: if ok {
                None
            } else {
                error.or_else(|| Some(format!("{}: failed", line.text)))
            },
            duration: start.elapsed(),
        }
    }

    /// Performs a native operation and records what it made. Returns (success, output).
    fn native(&mut self, ns: &Ns, op: &Op) -> Result<(bool, String), KernelError> {
        let k = &self.kernel;
        match op {
            Op::NetnsAdd(name) => {
                k.netns_add(name)?;
                if let Some(inode) = k.netns_inode(&Ns::Named(name.clone())) {
                    self.ledger.record(Entry::Netns {
                        name: name.clone(),
                        inode,
                    });
                }
            }
            Op::NetnsDel(name) => k.netns_del(name)?,
            Op::NetnsList => return Ok((true, k.netns_list().join("\n") + "\n")),
            Op::VethAdd {
                name,
                peer,
                peer_ns,
            } => {
                k.veth_add(ns, name, peer, peer_ns.as_ref())?;
                self.ledger.record(Entry::Link {
                    ns: ns_ref(ns),
                    name: name.clone(),
                });
            }
            Op::BridgeAdd(name) => {
                k.bridge_add(ns, name)?;
                self.ledger.record(Entry::Link {
                    ns: ns_ref(ns),
                    name: name.clone(),
                });
            }
            Op::LinkUp(dev) | Op::LinkDown(dev) => {
                let up = matches!(op, Op::LinkUp(_));
                let was_up = k.link(ns, dev).ok().map(|l| l.up);
                k.link_set_up(ns, dev, up)?;
                if let Some(was_up) = was_up {
                    self.ledger.record(Entry::LinkState {
                        ns: ns_ref(ns),
                        name: dev.clone(),
                        was_up,
                    });
                }
            }
            Op::LinkSetNetns { dev, to } => {
                k.link_set_netns(ns, dev, to)?;
                self.ledger.moved(dev, ns, to);
            }
            Op::LinkSetMaster { dev, master } => {
                k.link_set_master(ns, dev, Some(master))?;
                self.ledger.record(Entry::Master {
                    ns: ns_ref(ns),
                    name: dev.clone(),
                });
            }
            Op::LinkNoMaster(dev) => k.link_set_master(ns, dev, None)?,
            Op::LinkDel(dev) => k.link_del(ns, dev)?,
            Op::AddrAdd { cidr, dev } => {
                k.addr_add(ns, dev, *cidr)?;
                self.ledger.record(Entry::Addr {
                    ns: ns_ref(ns),
                    dev: dev.clone(),
                    cidr: cidr.to_string(),
                });
            }
            Op::RouteAdd { dest, via, dev } => {
                k.route_add(ns, *dest, *via, dev.as_deref())?;
                self.ledger.record(Entry::Route {
                    ns: ns_ref(ns),
                    dest: dest.map(|d| d.to_string()),
                    via: *via,
                    dev: dev.clone(),
                });
            }
            Op::SysctlWrite { key, value } => {
                let old = k.sysctl_read(ns, key)?;
                k.sysctl_write(ns, key, value)?;
                self.ledger.record(Entry::Sysctl {
                    ns: ns_ref(ns),
                    key: key.clone(),
                    old,
                });
            }
            Op::Ping {
                addr,
                count,
                timeout_ms,
                interval_ms,
            } => {
                return self.ping(ns, *addr, *count, *timeout_ms, *interval_ms);
            }
        }
        Ok((true, String::new()))
    }

    /// ping's own output, close to iputils'. Fails (like ping's exit 1) when no reply came.
    fn ping(
        &self,
        ns: &Ns,
        addr: std::net::Ipv4Addr,
        count: u32,
        timeout_ms: Option<u64>,
        interval_ms: Option<u64>,
    ) -> Result<(bool, String), KernelError> {
        let timeout = Duration::from_millis(
            timeout_ms
                .unwrap_or(eval::PING_CHECK_TIMEOUT.as_millis() as u64)
                .max(1),
        );
        let gap = match self.pace {
            Pace::Fast => Duration::ZERO,
            Pace::Real => Duration::from_millis(interval_ms.unwrap_or(1000).min(1000)),
        };
        let mut out = format!("PING {addr} from {}\n", ns.name());
        let mut received = 0;
        for seq in 1..=count {
            if seq > 1 {
                std::thread::sleep(gap);
            }
            match self.kernel.ping(ns, addr, timeout)? {
                PingOutcome::Reply(rtt) => {
                    received += 1;
                    out.push_str(&format!(
                        "reply from {addr}: icmp_seq={seq} time={:.3} ms\n",
                        rtt.as_secs_f64() * 1000.0
                    ));
                }
                PingOutcome::NoReply => out.push_str(&format!(
                    "no reply from {addr}: icmp_seq={seq} (waited {} ms)\n",
                    timeout.as_millis()
                )),
                PingOutcome::Unreachable(why) => out.push_str(&format!("ping: connect: {why}\n")),
            }
        }
        let loss = 100 * (count - received) / count.max(1);
        out.push_str(&format!("--- {addr} ping statistics ---\n{count} packets transmitted, {received} received, {loss}% packet loss\n"));
        Ok((received > 0, out))
    }
}
