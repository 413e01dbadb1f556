//! Fuzz target `assess_batch`: see `ketacare_fuzz::TARGETS` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let check = ketacare_fuzz::target("assess_batch").expect("a known target");
    check(data);
});
