"""The 48 ResNet-50 checkpoints analysed in the paper, by category (the paper's Table 1; docs/models.md).

The registry builds its entries on these names; the analysis uses the
categories for grouping and colours.
"""

PAPER_CATEGORIES: dict[str, list[str]] = {
    "baseline": ["tv_resnet50"],
    "training_recipes": [
        "tv2_resnet50",
        *(f"resnet50.{tag}_in1k" for tag in ("a1", "a1h", "a2", "a3", "b1k", "b2k", "c1", "c2", "d")),
    ],
    "adversarial_training": [
        *(f"robust_resnet50_l2_eps{e}" for e in ("0", "0.01", "0.03", "0.05", "0.1", "0.25", "0.5", "1", "3", "5")),
        *(f"robust_resnet50_linf_eps{e}" for e in ("0.5", "1.0", "2.0", "4.0", "8.0")),
    ],
    "stylized": [
        "resnet50_trained_on_SIN",
        "resnet50_trained_on_SIN_and_IN",
        "resnet50_trained_on_SIN_and_IN_then_finetuned_on_IN",
    ],
    "augmentation": [
        "resnet50_prime",
        "resnet50_pixmix_90ep",
        "resnet50_pixmix_180ep",
        "resnet50_augmix_180ep",
        "resnet50_deepaugment",
        "resnet50_deepaugment_augmix",
        "resnet50_noisymix",
        "resnet50_opticsaugment",
        "resnet50_tsbias_tbias",
        "resnet50_tsbias_sbias",
        "resnet50_tsbias_debiased",
        "resnet50_diffusionnoise_fixed_nonoise",
    ],
    "freezing": ["resnet50_frozen_random"],
    "contrastive": [
        "resnet50_moco_v3_100ep",
        "resnet50_moco_v3_300ep",
        "resnet50_moco_v3_1000ep",
        "resnet50_dino",
        "resnet50_swav",
        "resnet50_simclrv2",
    ],
}

PAPER_MODELS: list[str] = [m for names in PAPER_CATEGORIES.values() for m in names]
MODEL_CATEGORY: dict[str, str] = {m: c for c, names in PAPER_CATEGORIES.items() for m in names}

assert len(PAPER_MODELS) == 48 and len(set(PAPER_MODELS)) == 48
