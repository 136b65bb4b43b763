//! The OCI runtime spec for a container, from its image configuration and Docker's Config and
//! HostConfig, with Docker's defaults (capabilities, seccomp profile, masked paths).
