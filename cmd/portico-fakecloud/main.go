// Command portico-fakecloud serves Portico's in-process fakes of the EC2
// and Compute Engine APIs on loopback, for demos, manual testing and the
// benchmark script. Instance addresses it hands out are loopback addresses;
// nothing is ever created anywhere.
//
//	portico-fakecloud -launch-latency 1s -running-after 3s
//
// It prints the environment to point Portico at it and runs until
// interrupted.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/portico-dev/portico/backends/awstest"
	"github.com/portico-dev/portico/backends/gcptest"
)

func main() {
	launch := flag.Duration("launch-latency", 0, "delay before a launch (RunInstances, instances.insert) replies")
	api := flag.Duration("api-latency", 0, "delay on every call")
	running := flag.Duration("running-after", 0, "time from launch to running")
	health := flag.Bool("serve-health", false, "serve /healthz on every running instance's address")
	flag.Parse()

	ec2 := awstest.NewServer(awstest.Options{LaunchLatency: *launch, APILatency: *api, RunningAfter: *running, ServeHealth: *health})
	defer ec2.Close()
	gce := gcptest.NewServer(gcptest.Options{InsertLatency: *launch, APILatency: *api, RunningAfter: *running, ServeHealth: *health})
	defer gce.Close()

	fmt.Printf("export AWS_ENDPOINT_URL_EC2=%s AWS_ACCESS_KEY_ID=fake AWS_SECRET_ACCESS_KEY=fake AWS_EC2_METADATA_DISABLED=true\n", ec2.URL())
	fmt.Printf("# gcp: in the config file set gcp.endpoint: %s and gcp.project: %s\n", gce.URL(), gce.Project())
	if *health {
		fmt.Printf("# health: set health.port: %d (ec2) / %d (gcp) in the spec\n", ec2.HealthPort(), gce.HealthPort())
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}
