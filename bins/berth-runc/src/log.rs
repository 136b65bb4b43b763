//! Log lines and fatal errors in runc's formats. Errors go to stderr as one line and, with
//! --log, to the log file too (containerd and Docker read the last error from there).

use crate::cli::LogFormat;
use std::io::Write;
use std::path::PathBuf;

pub struct Logger {
    file: Option<PathBuf>,
    format: LogFormat,
    debug: bool,
}

impl Logger {
    pub fn new(file: Option<PathBuf>, format: LogFormat, debug: bool) -> Logger {
        Logger {
            file,
            format,
            debug,
        }
    }

    fn line(&self, level: &str, msg: &str) -> String {
        let time = berth_runtime::state::now_rfc3339();
        match self.format {
            LogFormat::Json => {
                serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
            }
            LogFormat::Text => format!("time={time:?} level={level} msg={msg:?}"),
        }
    }

    fn write(&self, level: &str, msg: &str) {
        if let Some(path) = &self.file {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(f, "{}", self.line(level, msg));
            }
        }
    }

    pub fn debug(&self, msg: &str) {
        if self.debug {
            self.write("debug", msg);
            if self.file.is_none() {
                eprintln!("{}", self.line("debug", msg));
            }
        }
    }

    /// Reports an error and exits 1.
    pub fn fatal(&self, msg: &str) -> ! {
        self.write("error", msg);
        eprintln!("berth-runc: {msg}");
        std::process::exit(1)
    }
}
