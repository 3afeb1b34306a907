"""PyTorch/MONAI networks (issue 6): liu2025's CEUS cine net, zhao2024's multi-phase ResNets and DLRCR,
chen2025's DenseNet-169 deep features, the shared training engine and Grad-CAM / Score-CAM.
Architectures, recipes and deviations from the papers: docs/networks.md."""
