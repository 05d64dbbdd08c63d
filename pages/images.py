"""Self-supervision on images: hide patches and predict them (MAE), pull two views of one digit together
(SimCLR), then a linear probe with a few labels shows what the features learnt; match digits with captions
(CLIP) and classify them from words alone. Tiny models, trained here."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import training, ui, vision
from explorer.charts import images as pictures
from explorer.charts import vision as charts
from explorer.ui import chart, clip_view, dino_view, vision_view
from explorer.ui.chart import made_once
from explorer.ui.live_run import LiveRun, curve
from explorer.wording import count

VIEWS = [
    "Masked patches (MAE)",
    "Contrastive views (SimCLR)",
    "The payoff: a linear probe",
    "Images and words (CLIP)",
    "Its own teacher (DINO)",
]
STEPS = [training.AUTO, 100, 300, 600, 1000, 1500, 2000]
MAE = vision.run_defaults("mae")  # the default run and what to expect of it (assets/examples/images.toml)
DEFAULTS = {
    "img_view": VIEWS[0],
    "img_source": "digit",
    "img_digit": 0,
    "img_ratio": MAE["ratio"],
    "img_seed": 0,
    "img_crop": True,
    "img_shift": True,
    "img_rotate": True,
    "img_noise": True,
    "img_temperature": 0.2,
    **clip_view.DEFAULTS,
    **dino_view.DEFAULTS,
}
LIMITS = {
    "img_view": VIEWS,
    "img_source": ["digit"],
    "img_digit": (0, 538),
    "img_ratio": (0.05, 0.95),
    "img_seed": (0, 9_999),
    "img_temperature": (0.05, 1.0),
    **clip_view.LIMITS,
    **dino_view.LIMITS,
}
ui.page_state(
    "images",
    DEFAULTS,
    LIMITS,
    local={"img_mae_steps": training.AUTO, "img_simclr_steps": training.AUTO, **clip_view.LOCAL, **dino_view.LOCAL},
)
HIDDEN, MAE_RUN, SIMCLR_RUN = "img_hidden", "img_mae_run", "img_simclr_run"
SHAPE = vision.SHAPES["digits"]

ui.set_threads()
large = ui.presenter()
st.title("Images: masked patches and contrastive views")
ui.intro(
    "Not only text: **MAE** hides most of an image's patches and learns to paint them back; **SimCLR** learns "
    "that two distorted views of one image belong together. No labels. **CLIP** learns from digits paired with "
    "captions, then names digits from words alone; **DINO**'s student learns from a teacher that is its own "
    "average. On 1,797 handwritten digits, with tiny models trained here."
)
d = vision.digits()
tabs = st.tabs(VIEWS, key="img_view", on_change="rerun")


# ----------------------------------------------------------------------------- 1. MAE
with tabs[0]:
    if tabs[0].open is not False:
        n = SHAPE.grid.count
        image, what = vision_view.image_to_mask(d, SHAPE)
        c1, c2 = ui.columns([3, 2])
        with c1:
            ratio = st.slider("Share of patches to hide (MAE hides 75%)", 0.05, 0.95, step=0.05, key="img_ratio")
        seed = int(st.session_state["img_seed"])
        again = c2.button("Hide a random share", key="img_random")  # drawn on every run
        if HIDDEN not in st.session_state or again:
            if HIDDEN in st.session_state:
                st.session_state["img_seed"] = seed = seed + 1
            st.session_state[HIDDEN] = vision.random_mask(n, ratio, seed).nonzero()[0].tolist()
        hidden = list(st.session_state[HIDDEN])
        slot = LiveRun(MAE_RUN, "img_mae")
        run = slot.run
        model = run.model if run is not None and run.step > 0 else vision.untrained_mae()
        with ui.friendly_errors():
            mask = vision.mask_from_indices(hidden, n)
            rec = vision.reconstruct(model, image, mask)
            state = (
                f"after {count(run.step, 'step')} of training"
                if run is not None and run.step > 0
                else "untrained: press Start training below and watch it learn"
            )
            chart.plotly_chart(
                made_once(pictures.reconstruction_panels, rec, large=large, title=f"{what}: the MAE, {state}"),
                key="img_reconstruction",
            )
            st.metric(
                "Loss on the hidden patches (mean squared error)",
                f"{rec.loss:.4f}",
                help="Counted on hidden patches only, as the masked LM's loss counts only masked tokens "
                "(the others get label -100).",
            )
        st.caption(
            f"Click a patch to hide or show it ({SHAPE.grid.side}×{SHAPE.grid.side} patches of "
            f"{SHAPE.patch}×{SHAPE.patch} pixels, numbered as in the pictures; ■ hidden). At {ratio:.0%}, "
            f"{vision.hidden_count(n, ratio)} of {n} are hidden."
        )
        grid = st.columns(SHAPE.grid.side)
        for i in range(n):
            r, c = divmod(i, SHAPE.grid.side)
            if grid[c].button(f"{'■' if i in hidden else '□'} {i}", key=f"img_patch_{i}", width="stretch"):
                st.session_state[HIDDEN] = vision.toggle(hidden, i)
                st.rerun()
        st.subheader("Train the MAE")
        steps = st.selectbox("Steps", STEPS, key="img_mae_steps")
        plan = vision.vision_plan("mae", steps=steps)
        signature = ("mae", plan.steps, round(float(ratio), 2))
        running = slot.controls(
            signature,
            lambda: vision.mae_run(plan, ratio=float(ratio), seed=0),
            plan.steps,
            preparing="Making a tiny ViT-MAE…",
        )
        which = (
            "" if abs(float(ratio) - MAE["ratio"]) < 1e-6 else f" with {MAE['ratio']:.0%} hidden (other shares differ)"
        )
        st.caption(
            f"What to expect{which} in {MAE['steps']:,} steps: the held-out loss falls to the dashed line of the "
            f"average training digit within a few dozen steps (it has learnt the average digit, a grey blur), stays near it for "
            f"about {MAE['plateau_steps']} steps while it learns to use the visible patches, and is below it by "
            f"step {MAE['beats_by_step']} (under a minute even on a busy 2-core server). By the end it is under "
            f"{MAE['end_below']:.0%} of the line, and the hidden patches show the digit's strokes."
        )
        slot.live(
            running,
            lambda r: curve(
                r,
                charts.mae_loss_curves(r.trainer.history, r.extra["baseline_loss"], target=r.target, large=large),
                key="img_mae_chart",
            ),
            signature,
        )
        cls_view = st.expander(
            "Attention of the ViT's CLS token to the visible patches (the DINO picture)",
            key="img_attention_open",
            on_change="rerun",
        )
        with cls_view, ui.friendly_errors():
            if cls_view.open:  # computed and drawn once opened
                att = vision.cls_attention(model, image, mask)
                chart.plotly_chart(charts.attention_grids(att.weights, image, large=large), key="img_attention")

# ----------------------------------------------------------------------------- 2. SimCLR
with tabs[1]:
    if tabs[1].open:
        st.markdown(
            "Each digit is distorted twice. The encoder should give the two **views of one digit** close "
            "vectors and views of different digits far ones: InfoNCE treats the diagonal of the matrix as "
            "the right answers (the same loss as the text page's, `explorer.contrastive.info_nce`)."
        )
        cols = st.columns(4)
        flags = {name: cols[i].toggle(name, key=f"img_{name}") for i, name in enumerate(vision.AUGMENTATIONS)}
        temperature = st.slider("Temperature τ", 0.05, 1.0, step=0.05, key="img_temperature")
        aug = vision.Augment().with_toggles(**flags)
        slot = LiveRun(SIMCLR_RUN, "img_simclr")
        run = slot.run
        encoder = run.model if run is not None and run.step > 0 else vision.untrained_encoder()
        with ui.friendly_errors():
            pick = d.test_idx[:8]
            vb = vision.view_batch(
                encoder,
                d.images[pick],
                d.labels[pick],
                aug,
                seed=int(st.session_state["img_seed"]),
                temperature=float(temperature),
            )
            chart.plotly_chart(charts.view_pairs_figure(vb.a, vb.b, vb.labels, large=large), key="img_views")
            c1, c2 = ui.columns(2)
            chart.plotly_chart(
                charts.view_similarity(vb.result.similarity, vb.labels, large=large), key="img_similarity", container=c1
            )
            c2.metric(
                "InfoNCE loss of this batch",
                f"{vb.result.loss:.3f}",
                help=f"ln {len(pick)} = {np.log(len(pick)):.3f} when every view looks alike to the encoder.",
            )
            c2.markdown(
                f"Mean cosine of the two views of **one digit** (the boxed diagonal): "
                f"**{vb.result.positive_similarity:.3f}**; of views of **different digits**: "
                f"**{vb.result.negative_similarity:.3f}**."
            )
            if encoder is vision.untrained_encoder():
                c2.info(
                    f"**Why every cell reads about 1.00 before training.** A random network gives every image "
                    f"nearly the same vector: what all inputs share (pixels are never negative, the ReLUs keep "
                    f"only positive features, the biases add the same to all) outweighs the little that differs. "
                    f"So every cosine lies between {vb.result.similarity.min():.3f} and "
                    f"{vb.result.similarity.max():.3f}, the views of one digit are no closer than views of "
                    f"different digits, and the loss sits at chance, ln {len(pick)} = {np.log(len(pick)):.2f}. "
                    f"Training pulls the diagonal up and pushes the rest down: train below and watch the two "
                    f"means part."
                )
        st.subheader("Train the encoder, with no labels")
        steps = st.selectbox("Steps", STEPS, key="img_simclr_steps")
        plan = vision.vision_plan("simclr", steps=steps)
        signature = ("simclr", plan.steps, aug, round(float(temperature), 2))
        running = slot.controls(
            signature,
            lambda: vision.simclr_run(plan, aug=aug, temperature=float(temperature)),
            plan.steps,
            preparing="Making a small CNN encoder…",
        )
        slot.live(
            running,
            lambda r: curve(
                r,
                charts.simclr_loss_curves(r.trainer.history, r.trainer.task.batch_size, target=r.target, large=large),
                key="img_simclr_chart",
            ),
            signature,
        )
        if not running:
            with ui.friendly_errors():
                m = vision.embedding_map(encoder)
                chart.plotly_chart(
                    charts.embedding_scatter(
                        m.coords,
                        m.labels,
                        m.explained,
                        index=m.index,
                        large=large,
                        title="Held-out digits on a 2-D map of the encoder's "
                        "features (colours: the labels it never saw)",
                    ),
                    key="img_map",
                )

# ----------------------------------------------------------------------------- 3. the payoff
with tabs[2]:
    if tabs[2].open:
        st.markdown(
            "What did the self-supervised encoder learn? Give a **linear probe** (logistic regression) a "
            "handful of labelled digits per class on top of its features, and measure it on held-out "
            "digits, against the same encoder untrained and against the raw pixels."
        )
        run = LiveRun(SIMCLR_RUN, "img_simclr").run  # the browser's encoder run (its own tab may not have run)
        if run is None or run.step == 0 or run.active:
            st.info(
                "Train the encoder on the *Contrastive views* tab first (or let it finish): the probe reads "
                "its features."
            )
        else:
            with ui.friendly_errors(), st.spinner("Fitting the probes…"):
                key = ("img_probe", id(run), run.step)
                if st.session_state.get("img_probe_key") != key:
                    st.session_state["img_probe"] = vision.compare_probes(
                        run.model, vision.random_encoder(run), repeats=3
                    )
                    st.session_state["img_probe_key"] = key
                table = st.session_state["img_probe"]
                chart.plotly_chart(charts.probe_bars(table, large=large), key="img_probe_chart")
                st.dataframe(vision.wide(table).round(3), width="stretch")
                st.caption(
                    f"After {count(run.step, 'step')} of SimCLR. Each accuracy is the mean of 3 draws of the "
                    "labelled digits; the held-out digits were never used to train the encoder or fit a probe."
                )

# ----------------------------------------------------------------------------- 4. CLIP
with tabs[3]:
    if tabs[3].open:
        clip_view.draw(large)

# ----------------------------------------------------------------------------- 5. DINO
with tabs[4]:
    if tabs[4].open:
        dino_view.draw(large)

ui.share_link(ui.publish_state("images", DEFAULTS))
