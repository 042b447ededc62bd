// Package verify is local payment verification: the checks common to every
// payload (version, scheme, network, resource, token allow-list, exact amount)
// followed by the chain family's own checks, and the one function that gives a
// payment's replay key.
package verify
