# Gaze tracks, gaze targets, head motion and visual features on the session clock.
