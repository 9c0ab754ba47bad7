//! Human log lines on stderr. Every line passes through the secret scrubber.
//!
//! stdout is kept for the program's result (`--output json` makes it one JSON document).

use std::sync::atomic::{AtomicU8, Ordering};

static VERBOSITY: AtomicU8 = AtomicU8::new(1);

/// 0 quiet, 1 normal, 2 verbose (`-v`), 3 debug (`-vv`).
pub fn set_verbosity(level: u8) {
    VERBOSITY.store(level, Ordering::Relaxed);
}

pub fn verbosity() -> u8 {
    VERBOSITY.load(Ordering::Relaxed)
}

fn emit(min: u8, prefix: &str, msg: &str) {
    if verbosity() >= min {
        let text = crate::secret::scrub(msg);
        // The prefix marks the first line; continuation lines (hints) stay indented under it.
        for (i, line) in text.lines().enumerate() {
            if i == 0 {
                eprintln!("{prefix}{line}")
            } else {
                eprintln!("{line}")
            }
        }
    }
}

pub fn info(msg: &str) {
    emit(1, "", msg);
}

pub fn verbose(msg: &str) {
    emit(2, "", msg);
}

pub fn debug(msg: &str) {
    emit(3, "debug: ", msg);
}

pub fn warn(msg: &str) {
    emit(0, "warning: ", msg);
}

pub fn error(msg: &str) {
    emit(0, "error: ", msg);
}
