//! Binding the listening address: one socket, or, with `connection-threads =
//! "per-core"` on Linux, one socket per CPU the process may run on.
//!
//! The per-CPU sockets share the port (`SO_REUSEPORT`), and each carries its CPU
//! (`SO_INCOMING_CPU`): the kernel then queues a new connection on the socket of
//! the CPU that received it, whose thread (`connections.rs`) is pinned to that
//! CPU. A connection's packets, its wake-ups and its answers stay on one core,
//! and no two threads take turns at one socket or one run queue.
//!
//! A shared port would also let a second cargohold (of the same user) join the
//! group and take half the connections, silently. So the address is first bound
//! once without `SO_REUSEPORT`, which fails, as a plain bind does, while anything
//! else listens on it.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::ConnectionThreads;

/// Connections waiting to be accepted, per socket (what tokio's own `bind` asks for).
const BACKLOG: i32 = 1024;

/// The bound, listening sockets of the server.
#[derive(Debug)]
pub struct Listeners {
    local_addr: SocketAddr,
    sockets: Vec<Listening>,
}

/// One listening socket, and the CPU whose connections it takes (none: any).
#[derive(Debug)]
pub struct Listening {
    pub socket: std::net::TcpListener,
    pub cpu: Option<usize>,
}

impl Listeners {
    /// Listens on `addr` (port 0: one the system picks) as `threads` asks, where
    /// the system allows it, and with one socket otherwise.
    pub fn bind(addr: SocketAddr, threads: ConnectionThreads) -> io::Result<Self> {
        let cpus = match threads {
            ConnectionThreads::PerCore => allowed_cpus(),
            ConnectionThreads::Shared => Vec::new(),
        };
        let sockets = if cpus.len() >= 2 {
            bind_per_cpu(addr, &cpus)?
        } else {
            let socket = socket_for(addr)?;
            socket.bind(&addr.into())?;
            socket.listen(BACKLOG)?;
            vec![Listening {
                socket: socket.into(),
                cpu: None,
            }]
        };
        let local_addr = sockets[0].socket.local_addr()?;
        Ok(Self {
            local_addr,
            sockets,
        })
    }

    /// The address the sockets listen on, with the real port.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The CPU of each socket, in order (none: a single socket for any).
    pub fn cpus(&self) -> impl Iterator<Item = Option<usize>> + '_ {
        self.sockets.iter().map(|socket| socket.cpu)
    }

    /// The sockets, one per CPU or a single one.
    pub fn into_sockets(self) -> Vec<Listening> {
        self.sockets
    }
}

/// A non-blocking TCP socket for `addr`, with `SO_REUSEADDR` as std and tokio set
/// it (a restart may bind while old connections linger in TIME_WAIT).
fn socket_for(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_reuse_address(true)?;
    Ok(socket)
}

#[cfg(target_os = "linux")]
fn bind_per_cpu(addr: SocketAddr, cpus: &[usize]) -> io::Result<Vec<Listening>> {
    if addr.port() != 0 {
        // Fails while any socket listens there, a group sharing the port included.
        let probe = socket_for(addr)?;
        probe.bind(&addr.into())?;
    }
    let mut sockets = Vec::with_capacity(cpus.len());
    let mut addr = addr;
    for &cpu in cpus {
        let socket = socket_for(addr)?;
        socket.set_reuse_port(true)?;
        socket.bind(&addr.into())?;
        // Listening before the next bind: a socket only bound does not yet hold
        // the port for its group, and with port 0 the next bind would fail.
        socket.listen(BACKLOG)?;
        if let Err(err) = socket.set_cpu_affinity(cpu) {
            tracing::debug!(cpu, error = %err, "could not tie a listening socket to its CPU");
        }
        if let Some(bound) = socket.local_addr()?.as_socket() {
            addr = bound;
        }
        sockets.push(Listening {
            socket: socket.into(),
            cpu: Some(cpu),
        });
    }
    Ok(sockets)
}

#[cfg(not(target_os = "linux"))]
fn bind_per_cpu(_addr: SocketAddr, _cpus: &[usize]) -> io::Result<Vec<Listening>> {
    unreachable!("allowed_cpus lists no CPU outside Linux")
}

/// The CPUs this process may run on (its affinity mask, which `taskset` and
/// container CPU sets narrow), in order.
#[cfg(target_os = "linux")]
pub fn allowed_cpus() -> Vec<usize> {
    use nix::sched::{CpuSet, sched_getaffinity};
    use nix::unistd::Pid;
    let Ok(set) = sched_getaffinity(Pid::from_raw(0)) else {
        return Vec::new();
    };
    (0..CpuSet::count())
        .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
        .collect()
}

/// Outside Linux, no thread is pinned: there are no per-CPU sockets to match.
#[cfg(not(target_os = "linux"))]
pub fn allowed_cpus() -> Vec<usize> {
    Vec::new()
}

/// Keeps the calling thread on `cpu`.
#[cfg(target_os = "linux")]
pub fn pin_this_thread(cpu: usize) -> io::Result<()> {
    use nix::sched::{CpuSet, sched_setaffinity};
    use nix::unistd::Pid;
    let mut set = CpuSet::new();
    set.set(cpu).map_err(io::Error::from)?;
    sched_setaffinity(Pid::from_raw(0), &set).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
pub fn pin_this_thread(_cpu: usize) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn per_core_sockets_share_one_port_picked_by_the_system() {
        let listeners =
            Listeners::bind("127.0.0.1:0".parse().unwrap(), ConnectionThreads::PerCore).unwrap();
        let port = listeners.local_addr().port();
        assert_ne!(port, 0);
        let sockets = listeners.into_sockets();
        let cpus = allowed_cpus();
        if cpus.len() < 2 {
            assert_eq!(sockets.len(), 1, "one CPU: one socket");
            return;
        }
        assert_eq!(sockets.len(), cpus.len());
        for (socket, cpu) in sockets.iter().zip(&cpus) {
            assert_eq!(socket.socket.local_addr().unwrap().port(), port);
            assert_eq!(socket.cpu, Some(*cpu));
        }
    }

    #[test]
    fn an_address_in_use_is_refused_in_either_mode() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        for threads in [ConnectionThreads::PerCore, ConnectionThreads::Shared] {
            let err = Listeners::bind(addr, threads).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{threads:?}");
        }
    }

    #[test]
    fn a_second_per_core_server_cannot_join_the_first_ones_port() {
        let first =
            Listeners::bind("127.0.0.1:0".parse().unwrap(), ConnectionThreads::PerCore).unwrap();
        let err = Listeners::bind(first.local_addr(), ConnectionThreads::PerCore).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn shared_threads_listen_on_one_socket() {
        let listeners =
            Listeners::bind("127.0.0.1:0".parse().unwrap(), ConnectionThreads::Shared).unwrap();
        let sockets = listeners.into_sockets();
        assert_eq!(sockets.len(), 1);
        assert_eq!(sockets[0].cpu, None);
    }
}
