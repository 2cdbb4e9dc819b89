//! Golden cycle counts and fidelity agreement of the WSE model.
