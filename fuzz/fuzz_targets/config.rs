//! The configuration loader never panics, whatever the text.
#![no_main]

use kwanus_gateway::config::{self, Overrides};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = config::from_str(text, &Overrides::default());
    }
});
