//! The daemon's side of the berth-monitor protocol: spawning monitors, reading their ready
//! message, exit and pid files.
