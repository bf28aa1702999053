"""Public geography bundled with geozones (see ATTRIBUTION.md): municipalities, neighbourhoods, origins, the Kortrijk demo."""
