"""The programme's picture for coordinators: pairs across economies, gaps, funnel, sectors."""
