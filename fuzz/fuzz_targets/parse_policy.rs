#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| plugbox_hardening::fuzz::parse_policy(data));
