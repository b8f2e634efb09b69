"""Where a profiled GPU step's time goes: kernel names sorted into kinds (engine.kernel_profile)."""

from studio.engine import kernel_profile

# Names as torch.profiler reported them on the H200 (docs/gpu_runs/profile_packed_step.txt and others).
SEEN = {
    "cudnn_generated_fort_native_sdpa_sm90_flash_bprop_wgmma_f16_knob_3_128x128x128": "attention",
    "void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits<128, 128, 64, 4>>": "attention",
    "nvjet_sm90_tst_256x160_64x4_1x2_h_bz_coopA_TNT": "matmul",
    "sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x256x64": "matmul",
    "triton_poi_fused_add_mul_native_dropout_0": "compiled fused",
    "triton_red_fused__to_copy_mean_pow_rsqrt_1": "compiled fused",
    "_cross_entropy_kernel": "loss",
    "void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<c10::BFloat16>>": "elementwise",
    "Memcpy DtoD (Device -> Device)": "copies",
    "void at::native::(anonymous namespace)::multi_tensor_apply_kernel<FusedAdamMathFunctor>": "optimizer",
}


def test_kernels_sorted_into_kinds():
    assert {name: kernel_profile.kind_of(name) for name in SEEN} == SEEN
    assert kernel_profile.kind_of("some_custom_kernel_xyz") == "other"


def test_summary_per_step_idle_and_matmul_rate():
    kernels = [("nvjet_sm90_gemm", 300_000.0), ("flash_fwd_kernel", 40_000.0), ("triton_poi_fused_0", 60_000.0)]
    summary = kernel_profile.summarize(kernels, steps=2, wall_ms=500.0, matmul_flops_per_step=150e12)
    assert summary["step_ms"] == 250.0
    assert summary["kinds_ms"] == {"matmul": 150.0, "compiled fused": 30.0, "attention": 20.0}
    assert list(summary["kinds_ms"]) == ["matmul", "compiled fused", "attention"]  # busiest first
    assert summary["gpu_idle_ms"] == 50.0
    assert summary["matmul_tflops"] == 1000  # 150 TFLOP in 150 ms
    assert "GPU idle 50.0" in kernel_profile.report(summary)
