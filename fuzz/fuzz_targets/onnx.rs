//! Fuzz target: onnx bytes through rlrp::fuzz::onnx (see fuzz/README.md).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    rlrp::fuzz::record_caught_panics();
    rlrp::fuzz::onnx(data)
});
