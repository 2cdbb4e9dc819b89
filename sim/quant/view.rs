//! A borrowed packed matrix, the common input of every format's decoder: codes section first,
//! metadata section after it, in one buffer.

/// Weights decode in blocks of this many consecutive columns of one row. Group sizes (64, 128)
/// are multiples of it, so a block never straddles two groups.
pub(crate) const BLOCK: usize = 64;

/// The packed bytes of a matrix and the place where its metadata starts.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    /// The whole buffer: codes, then metadata. Windowed bit reads may run into the metadata;
    /// they mask those bits off.
    pub bytes: &'a [u8],
    /// Length of the codes section.
    pub code_len: usize,
    pub cols: usize,
}

impl<'a> View<'a> {
    /// The metadata section (f16 little-endian values).
    #[inline]
    pub fn meta(&self) -> &'a [u8] {
        &self.bytes[self.code_len..]
    }
}
