//! Fuzz target: image bytes through rlrp::fuzz::image (see fuzz/README.md).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rlrp::fuzz::image(data));
