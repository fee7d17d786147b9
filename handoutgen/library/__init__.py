"""Read and check the library: content, clinics, fonts, logos, the kinds and fields declared in
handouts/, and the patient values a request brings. Nothing here draws a page."""
