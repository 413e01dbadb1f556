//! Fuzz target `screen_medication_request`: see `ketacare_fuzz::TARGETS` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let check = ketacare_fuzz::target("screen_medication_request").expect("a known target");
    check(data);
});
