//! Fuzz target `screen_line_vs_serde`: see `ketacare_fuzz::TARGETS` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let check = ketacare_fuzz::target("screen_line_vs_serde").expect("a known target");
    check(data);
});
