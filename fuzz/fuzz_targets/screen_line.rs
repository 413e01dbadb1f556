//! Fuzz target `screen_line`: see `ketacare_fuzz::TARGETS` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let check = ketacare_fuzz::target("screen_line").expect("a known target");
    check(data);
});
