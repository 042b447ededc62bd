// Package receiptstest checks a receipts.Store: a seller implementing
// Store on its own database runs StoreConformance over it in its tests.
package receiptstest
