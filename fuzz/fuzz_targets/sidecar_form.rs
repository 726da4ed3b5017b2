//! Fuzz target: the page's preprocessing form, as typed text, through rlrp::fuzz::sidecar_form (see fuzz/README.md).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rlrp::fuzz::sidecar_form(data));
