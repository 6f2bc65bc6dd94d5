#![no_main]

use plugbox_fuzz::harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness().load_component(data);
});
