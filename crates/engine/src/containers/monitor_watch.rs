//! monitor_watch
