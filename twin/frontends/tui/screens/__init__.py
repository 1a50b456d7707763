"""Screens: the control room, and the modal help, confirmation and GPU chooser."""
