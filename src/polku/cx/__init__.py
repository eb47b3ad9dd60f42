"""Customer-experience measurement: surveys, target experiences, feedback text and account CX health."""
