//! Which instruction set the kernels run on, chosen once per call from what the CPU reports.
//! Every path computes exactly the portable kernels' arithmetic (same lanes, same order, a
//! multiply rounded before its add), so the choice changes speed, never a bit of the results.

/// A kernel implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    /// Plain Rust for any CPU: the definition of the results.
    Portable,
    /// x86-64 AVX2 (256-bit vectors, `vpshufb` / `vpsrlvd` decoding) with F16C (half to
    /// single conversion). Only [`Isa::detect`] returns it, and only on a CPU that has both.
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Isa {
    /// The fastest implementation this CPU runs.
    pub(crate) fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("f16c")
        {
            return Isa::Avx2;
        }
        Isa::Portable
    }
}
