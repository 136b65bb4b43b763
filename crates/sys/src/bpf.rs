//! BPF syscalls for the cgroup v2 device filter (owned by the cgroups work).
