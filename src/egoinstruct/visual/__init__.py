"""Visual streams of a session: pretrained-CNN frame features, head motion, debug renderings."""
