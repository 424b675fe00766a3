# Speech: transcripts with speakers and roles (whisperx), and prosody features.
