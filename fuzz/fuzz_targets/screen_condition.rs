//! Fuzz target `screen_condition`: see `ketacare_fuzz::TARGETS` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let check = ketacare_fuzz::target("screen_condition").expect("a known target");
    check(data);
});
