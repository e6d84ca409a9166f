//! The labels polyclaw puts on everything it creates in Docker, and who "this instance" is.
//!
//! Every container carries `io.polyclaw.managed=true`, the server name, and its owner: a random
//! instance id made once per process plus the owner's pid, the pid's start time (so a reused
//! pid is not mistaken for the owner) and the host name (pids mean nothing on another host).
//! [`crate::runtime::docker::Engine::reap_leftovers`] reads them back.

use std::collections::HashMap;
use std::io::Read;
use std::sync::OnceLock;

/// `true` on everything polyclaw made; the reaper never looks at anything else.
pub const MANAGED: &str = "io.polyclaw.managed";
/// The owning polyclaw instance id ([`instance_id`]).
pub const OWNER: &str = "io.polyclaw.owner";
/// The owner's pid on its host.
pub const OWNER_PID: &str = "io.polyclaw.owner-pid";
/// The owner's start time (clock ticks since boot, from `/proc/PID/stat`), against pid reuse.
pub const OWNER_STARTED: &str = "io.polyclaw.owner-started";
/// The owner's host name (a pid is only checked on the same host).
pub const OWNER_HOST: &str = "io.polyclaw.owner-host";
/// The server name from the configuration.
pub const SERVER: &str = "io.polyclaw.server";
/// On generated images: `true`.
pub const GENERATED: &str = "io.polyclaw.generated";
/// On generated images: the template they were made from.
pub const TEMPLATE: &str = "io.polyclaw.template";
/// On generated images: SHA-256 of the spec (canonical JSON), hex.
pub const SPEC_SHA256: &str = "io.polyclaw.spec-sha256";
/// On generated images: when they were built (Unix seconds).
pub const CREATED: &str = "io.polyclaw.created";
/// On images polyclaw builds: what they were built from.
pub const IMAGE_SOURCE: &str = "io.polyclaw.image-source";

/// This process's instance id: 16 random hex digits, made on first use and then fixed.
pub fn instance_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| format!("{:016x}", random_u64()))
}

/// The labels for a container of `server` owned by `instance` (this process).
pub fn container_labels(instance: &str, server: &str) -> HashMap<String, String> {
    let me = std::process::id();
    let mut labels = HashMap::from([
        (MANAGED.to_string(), "true".to_string()),
        (OWNER.to_string(), instance.to_string()),
        (OWNER_PID.to_string(), me.to_string()),
        (OWNER_HOST.to_string(), host_name()),
        (SERVER.to_string(), server.to_string()),
    ]);
    if let Some(started) = process_start_ticks(me) {
        labels.insert(OWNER_STARTED.to_string(), started.to_string());
    }
    labels
}

/// Whether the owner described by `labels` may still be running. Errs on the side of "alive":
/// only an owner on this host whose pid is gone (or was reused by a later process) is dead.
pub fn owner_alive(labels: &HashMap<String, String>) -> bool {
    let Some(host) = labels.get(OWNER_HOST) else {
        return true;
    };
    if *host != host_name() {
        return true;
    }
    let Some(pid) = labels.get(OWNER_PID).and_then(|p| p.parse::<u32>().ok()) else {
        return true;
    };
    match (process_start_ticks(pid), labels.get(OWNER_STARTED)) {
        (None, _) => false,
        (Some(now), Some(then)) => then.parse::<u64>().map_or(true, |then| then == now),
        (Some(_), None) => true,
    }
}

/// This machine's host name (UTS namespace), or `""` if it cannot be read.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Start time of `pid` in clock ticks since boot (field 22 of `/proc/PID/stat`); `None` if
/// there is no such process.
pub fn process_start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: skip past it.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok()
    {
        return u64::from_le_bytes(bytes);
    }
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_labels_are_alive_and_a_dead_pid_is_not() {
        let mut labels = container_labels("abc", "echo");
        assert_eq!(labels[MANAGED], "true");
        assert!(owner_alive(&labels));
        labels.insert(OWNER_PID.into(), "999999999".into());
        assert!(!owner_alive(&labels));
        labels.insert(OWNER_HOST.into(), "some-other-host.invalid".into());
        assert!(
            owner_alive(&labels),
            "another host's pids are not ours to judge"
        );
    }

    #[test]
    fn a_reused_pid_is_dead() {
        let mut labels = container_labels("abc", "echo");
        labels.insert(OWNER_STARTED.into(), "1".into());
        assert!(!owner_alive(&labels));
    }

    #[test]
    fn instance_id_is_stable() {
        assert_eq!(instance_id(), instance_id());
        assert_eq!(instance_id().len(), 16);
    }
}
