//! Fuzz target `screen_export`: see `ketacare_fuzz::TARGETS` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let check = ketacare_fuzz::target("screen_export").expect("a known target");
    check(data);
});
