"""Where kernel code comes from: a git tree at a revision, a base plus
patches, a plain directory, or Debian's linux-source packages."""
